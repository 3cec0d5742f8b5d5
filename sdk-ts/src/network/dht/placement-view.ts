/**
 * Who owns a soul, as of the live membership (member-table.ts): the R servers whose
 * positions (SHA-256 of the peer id's multihash) are closest by XOR to the soul's
 * position (SHA-256 of the soul). The decision is the engine's (core-rs/src/placement.rs,
 * one call for many souls); this view only keeps an engine Placement in step with the
 * member set and turns member indices into peer ids.
 *
 * Every server computes the same owners from the same member set, with no lookup:
 * zero hops (DESIGN.md §5). With R or fewer members everyone owns everything.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import type { MemberTable } from './member-table.js';
import { RecentlyUsed } from '../../util/recently-used.js';

/** The engine's placement object (core-rs/src/wasm.rs `Placement`). */
export interface EnginePlacement {
  readonly size: number;
  readonly replicas: number;
  owners(souls: string[]): Uint32Array;
  routeFrame(frame: Uint8Array): (Uint8Array | undefined)[];
  /** The distinct souls of the last routeFrame, and their owners (flat, `replicas` each). */
  routedSouls(): string[];
  routedOwners(): Uint32Array;
  /** The members member `member` keeps a connection to beyond a full mesh (Kademlia buckets, `perBucket` each). */
  neighbours(member: number, perBucket: number): Uint32Array;
  free(): void;
}

/** The members and one follower that is not a member yet, and that follower's index among them (PlacementView `partFor`). */
interface JoiningPlacement {
  readonly placement: EnginePlacement;
  readonly index: number;
}

/** A frame cut by owner: each member's part, and each soul's owners. */
export interface RoutedFrame {
  readonly parts: ReadonlyMap<string, Uint8Array>;
  readonly souls: readonly string[];
  readonly owners: readonly (readonly string[])[];
}

export interface PlacementEngine {
  readonly Placement: new (members: Uint8Array[], replicas: number) => EnginePlacement;
}

/** Default number of owners of each soul. */
export const DEFAULT_REPLICAS = 3;

/** Souls sampled to estimate the share of the ring a server owns (`share()`). */
const SHARE_SAMPLE = 2048;

/** Followers not yet members whose placements are kept (see partFor): servers coming back or joining, a few at a time. */
const MAX_JOINING_FOLLOWERS = 8;

export class PlacementView {
  readonly #engine: PlacementEngine;
  readonly #table: MemberTable;
  readonly #replicas: number;
  readonly #self: string;
  #version = -1;
  #placement: EnginePlacement | undefined;
  #members: readonly string[] = [];
  #index = new Map<string, number>();
  #share: number | undefined;
  /** Routed frames by frame object, for this version: one engine call serves every follower. */
  #routed = new WeakMap<Uint8Array, RoutedFrame>();
  /** For this version: placements of the members and one follower that is not a member (yet), by follower (null: not a peer id). */
  readonly #joining = new RecentlyUsed<string, JoiningPlacement | null>(MAX_JOINING_FOLLOWERS, (joining) => joining?.placement.free());

  constructor(engine: PlacementEngine, table: MemberTable, replicas: number, self: string) {
    this.#engine = engine;
    this.#table = table;
    this.#replicas = replicas;
    this.#self = self;
  }

  /** R: how many servers own each soul (fewer when there are fewer members). */
  get replicas(): number {
    return this.#replicas;
  }

  /** The live member ids placement uses now, sorted. */
  get members(): readonly string[] {
    this.#refresh();
    return this.#members;
  }

  /** The membership version this placement follows. */
  get version(): number {
    this.#refresh();
    return this.#version;
  }

  /** True when every member owns every soul (no more members than R). */
  get full(): boolean {
    this.#refresh();
    return this.#members.length <= this.#replicas;
  }

  isMember(peerId: string): boolean {
    this.#refresh();
    return this.#index.has(peerId);
  }

  /** The owners of each soul, closest first. */
  ownersOf(souls: readonly string[]): string[][] {
    this.#refresh();
    const placement = this.#placement;
    if (placement === undefined || souls.length === 0) return souls.map(() => []);
    const flat = placement.owners([...souls]);
    const k = placement.replicas;
    const owners: string[][] = [];
    for (let i = 0; i < souls.length; i++) {
      const row: string[] = [];
      for (let j = 0; j < k; j++) row.push(this.#members[flat[i * k + j]!]!);
      owners.push(row);
    }
    return owners;
  }

  /** Whether this server is among `soul`'s owners. */
  owns(soul: string): boolean {
    return this.ownersOf([soul])[0]!.includes(this.#self);
  }

  /**
   * The part of `frame` that `peerId` owns (the updates of its souls), undefined when it
   * owns none of them. One engine call per frame and version, shared by every follower
   * the frame goes to.
   *
   * A follower that is not a member here yet — a server that just came back or joined,
   * whose record has not reached this server — gets the part it owns once it is one (the
   * members and it). Sent nothing, it would have acknowledged past those entries and
   * never read them from this log: a restarted owner got 1,313 of the 10,000 updates it
   * missed through the feeds, and waited for hand-off and anti-entropy for the rest.
   */
  partFor(frame: Uint8Array, peerId: string, backlog = false): Uint8Array | undefined {
    if (this.isMember(peerId)) {
      const routed = this.route(frame);
      if (routed === undefined) return undefined;
      // From the backlog, nothing when this server owns none of the follower's souls in
      // the entry (it logged them as their owner before membership moved them): what it
      // holds of those souls reaches the follower through its hand-off (pushed to the
      // owners, released only once they confirm), and their other owners' feeds carry the
      // same writes. A restarted owner was fed each update it missed by the temporary
      // owner too, and the temporary owner's repair copies of its souls besides: half of
      // what it merged on its return. (Live entries still go: a write an old client PUT
      // here reaches its owners at once that way, not after the hand-off's delay.)
      if (backlog && this.#index.has(this.#self) && !this.#sharesWithSelf(routed).has(peerId)) return undefined;
      return routed.parts.get(peerId);
    }
    const joining = this.#joiningPlacement(peerId);
    if (joining === null) return undefined;
    return joining.placement.routeFrame(frame)[joining.index];
  }

  /** The members that own, with this server, at least one soul of a routed frame. */
  #sharesWithSelf(routed: RoutedFrame): ReadonlySet<string> {
    let shares = this.#shares.get(routed);
    if (shares === undefined) {
      shares = new Set();
      for (const owners of routed.owners) if (owners.includes(this.#self)) for (const owner of owners) shares.add(owner);
      this.#shares.set(routed, shares);
    }
    return shares;
  }

  readonly #shares = new WeakMap<RoutedFrame, Set<string>>();

  #joiningPlacement(peerId: string): JoiningPlacement | null {
    this.#refresh();
    return this.#joining.getOrCreate(peerId, () => {
      try {
        const members = [...this.#members, peerId];
        const ids = members.map((id) => peerIdFromString(id).toMultihash().bytes);
        return { placement: new this.#engine.Placement(ids, this.#replicas), index: members.length - 1 };
      } catch {
        // Not a peer id placement can use: nothing to send it.
        return null;
      }
    });
  }


  /** `frame` cut by owner (undefined without members). Throws the engine's DecodeError for malformed bytes. */
  route(frame: Uint8Array): RoutedFrame | undefined {
    this.#refresh();
    const placement = this.#placement;
    if (placement === undefined) return undefined;
    let routed = this.#routed.get(frame);
    if (routed !== undefined) return routed;
    const frames = placement.routeFrame(frame);
    const parts = new Map<string, Uint8Array>();
    frames.forEach((part, i) => {
      if (part !== undefined) parts.set(this.#members[i]!, part);
    });
    const souls = placement.routedSouls();
    const flat = placement.routedOwners();
    const k = placement.replicas;
    const owners = souls.map((_, i) => Array.from(flat.subarray(i * k, (i + 1) * k), (index) => this.#members[index]!));
    routed = { parts, souls, owners };
    this.#routed.set(frame, routed);
    return routed;
  }

  /**
   * The members this server keeps a connection to when the network is too large for a
   * full mesh: its routing-table neighbours, the `perBucket` closest of each Kademlia
   * bucket around it (the engine's decision: placement.rs `neighbours`). Every other
   * member while this server is not a member itself.
   */
  neighbours(perBucket: number): string[] {
    this.#refresh();
    const index = this.#index.get(this.#self);
    if (this.#placement === undefined || index === undefined) return this.#members.filter((peerId) => peerId !== this.#self);
    return Array.from(this.#placement.neighbours(index, perBucket), (i) => this.#members[i]!);
  }

  /** About how much of the ring this server owns (0..1): the share of sampled souls it is an owner of. */
  share(): number {
    this.#refresh();
    if (this.#share !== undefined) return this.#share;
    if (!this.#index.has(this.#self)) return (this.#share = 0);
    const sample = Array.from({ length: SHARE_SAMPLE }, (_, i) => `ring-sample/${i}`);
    const owned = this.ownersOf(sample).filter((owners) => owners.includes(this.#self)).length;
    return (this.#share = owned / SHARE_SAMPLE);
  }

  #refresh(): void {
    if (this.#version === this.#table.version) return;
    this.#version = this.#table.version;
    this.#placement?.free();
    this.#placement = undefined;
    this.#joining.clear();
    this.#share = undefined;
    this.#routed = new WeakMap();
    this.#members = this.#table.live().map((member) => member.peerId);
    this.#index = new Map(this.#members.map((peerId, i) => [peerId, i]));
    if (this.#members.length === 0) return;
    const ids = this.#members.map((peerId) => peerIdFromString(peerId).toMultihash().bytes);
    this.#placement = new this.#engine.Placement(ids, this.#replicas);
  }
}

/** The owners of `souls` among `members` (any member list, e.g. an earlier one), closest first. */
export function ownersUnder(engine: PlacementEngine, members: readonly string[], replicas: number, souls: readonly string[]): string[][] {
  if (members.length === 0) return souls.map(() => []);
  const placement = new engine.Placement(members.map((peerId) => peerIdFromString(peerId).toMultihash().bytes), replicas);
  try {
    const flat = placement.owners([...souls]);
    const k = placement.replicas;
    return souls.map((_, i) => Array.from(flat.subarray(i * k, (i + 1) * k), (index) => members[index]!));
  } finally {
    placement.free();
  }
}
