//! The global allocator for the WebAssembly build: the system allocator, but linear
//! memory grows in large steps.
//!
//! The allocator grows memory one 64 KiB page at a time when it runs out, and V8
//! (Node 20) answers nearly every `memory.grow` of a large memory with a full garbage
//! collection. A replica holding a million properties then spent most of its time in
//! the collector (the benchmark's "receive into a replica of 1M props" row ran at a
//! sixth of its speed). So whenever an allocation had to grow memory, we immediately
//! allocate and free a reserve of a quarter of the heap (at least 4 MiB): the next
//! growth is far away, and the reserve stays in the allocator's free space for later
//! allocations (WebAssembly memory never shrinks, so nothing is returned or lost).

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32::memory_size;
use core::sync::atomic::{AtomicBool, Ordering};
use std::alloc::System;

const PAGE: usize = 64 * 1024;
const MIN_RESERVE: usize = 4 * 1024 * 1024;

pub struct GrowInLargeSteps;

/// Bytes of linear memory the module holds now (it never shrinks): for a server's /health.
pub fn linear_memory_bytes() -> usize {
    memory_size(0) * PAGE
}

/// Set while the reserve itself is being allocated, so that allocation does not
/// trigger another reserve.
static RESERVING: AtomicBool = AtomicBool::new(false);

/// Called after an allocation: if it grew memory, reserve far ahead.
fn reserve_if_grown(pages_before: usize) {
    if memory_size(0) == pages_before || RESERVING.swap(true, Ordering::Relaxed) {
        return;
    }
    let heap = memory_size(0) * PAGE;
    let reserve = Layout::from_size_align(core::cmp::max(heap / 4, MIN_RESERVE), 16).expect("valid layout");
    // SAFETY: a fresh block of a valid layout, freed at once with the same layout.
    unsafe {
        let block = System.alloc(reserve);
        if !block.is_null() {
            System.dealloc(block, reserve);
        }
    }
    RESERVING.store(false, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator with its own arguments;
// the reserve is a separate, immediately freed allocation.
unsafe impl GlobalAlloc for GrowInLargeSteps {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pages_before = memory_size(0);
        let ptr = unsafe { System.alloc(layout) };
        reserve_if_grown(pages_before);
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let pages_before = memory_size(0);
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        reserve_if_grown(pages_before);
        new
    }
}

#[global_allocator]
static ALLOCATOR: GrowInLargeSteps = GrowInLargeSteps;
