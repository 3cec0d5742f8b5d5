/** Small DOM helpers shared by the panels. */

/** The element with this id; throws when the page lacks it (a bug in index.html). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Creates an element with attributes and children (strings become text, never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'class') element.className = value;
    else element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

/** Shows `text` in an error/info line, or hides it for undefined. */
export function say(element: HTMLElement, text: string | undefined): void {
  element.textContent = text ?? '';
  element.hidden = text === undefined || text === '';
}

/** "code: message" for RustDHT errors, the message for others. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** Puts `text` on the clipboard (the Clipboard API, else a hidden textarea and execCommand). */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard !== undefined && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // Permission refused or no focus: the fallback below.
    }
  }
  const area = el('textarea', { readonly: '', style: 'position:fixed;top:-1000px;opacity:0' });
  area.value = text;
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  if (!copied) throw new Error('the browser refused to copy');
}

/** A small "Copy" button for `text` (its data-copy attribute holds the text, for tests and the curious). */
export function copyButton(text: string, what: string): HTMLButtonElement {
  const button = el('button', { type: 'button', class: 'copy', 'data-testid': 'copy-button', 'data-copy': text, title: `Copy ${what}`, 'aria-label': `Copy ${what}` }, 'Copy');
  let timer: ReturnType<typeof setTimeout> | undefined;
  button.addEventListener('click', () => {
    void copyText(text).then(
      () => {
        button.textContent = 'Copied ✓';
        button.dataset['copied'] = 'true';
      },
      () => {
        button.textContent = 'Select & copy';
        button.dataset['copied'] = 'false';
      },
    ).finally(() => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        button.textContent = 'Copy';
        delete button.dataset['copied'];
      }, 2000);
    });
  });
  return button;
}
