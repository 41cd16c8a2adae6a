// Chapter and bookmark lists: one button per mark ("1:23  Dissection"); a click seeks the video
// to the mark's media time. Labels go in through textContent only.
import { html } from '../status/dom.js';
import { formatOffset } from './format.js';

export interface Mark {
  atMs: number;
  label: string;
  kind?: string;
}

export function renderMarks(container: HTMLElement, marks: readonly Mark[], mediaStartMs: number | null, onPick: (atMs: number) => void): void {
  const items = marks.map((mark) => {
    const button = html('button', 'sc-mark');
    button.type = 'button';
    button.dataset.atMs = String(mark.atMs);
    if (mark.kind) button.dataset.kind = mark.kind;
    button.append(html('span', 'sc-at', formatOffset(mark.atMs, mediaStartMs)), html('span', 'sc-label', mark.label));
    button.addEventListener('click', () => onPick(mark.atMs));
    const item = html('li');
    item.append(button);
    return item;
  });
  container.replaceChildren(...items);
}
