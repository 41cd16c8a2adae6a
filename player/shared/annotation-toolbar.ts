// Server-side HTML and CSS of the drawing toolbar (expert page, edge monitor). Pure strings, no
// user input: the tools controller (annotation-tools.ts) finds the buttons by their data- names.
import type { DrawingTool } from './annotation-gesture.js';

/** Toolbar buttons: tool, label, keyboard key (shown in the tooltip). */
export const TOOL_BUTTONS: ReadonlyArray<{ tool: DrawingTool; label: string; key: string; title: string }> = [
  { tool: 'pointer', label: 'Point', key: 'p', title: 'Pointer: a dot while you hold (P)' },
  { tool: 'stroke', label: 'Draw', key: 'f', title: 'Freehand (F)' },
  { tool: 'arrow', label: 'Arrow', key: 'a', title: 'Arrow: drag from tail to tip (A)' },
  { tool: 'circle', label: 'Circle', key: 'c', title: 'Circle: drag from the centre (C)' },
  { tool: 'text', label: 'Text', key: 't', title: 'Text label: click, type, Enter (T)' },
];

/** Pin toggles with this key. */
export const PIN_KEY = 'k';

export const TOOLBAR_CSS = `
  .sc-tools { position: absolute; top: 10px; left: 50%; transform: translateX(-50%); z-index: 10;
    display: flex; gap: 4px; padding: 4px; border-radius: 6px; background: rgba(0, 0, 0, 0.65); }
  .sc-tools button { padding: 3px 9px; border: 1px solid transparent; border-radius: 4px;
    background: transparent; color: var(--sc-fg); font: 600 13px/1.4 system-ui, sans-serif; cursor: pointer; }
  .sc-tools button:hover { background: #26303a; }
  .sc-tools button[aria-pressed="true"] { border-color: var(--sc-draw, #ffd400); color: var(--sc-draw, #ffd400); }
  .sc-tools .sc-tools-sep { width: 1px; margin: 2px 4px; background: #4a5560; }
  .sc-annotation-input { position: absolute; z-index: 11; min-width: 160px; padding: 3px 6px;
    border: 1px solid var(--sc-draw, #ffd400); border-radius: 4px; background: rgba(0, 0, 0, 0.8);
    color: var(--sc-fg); font: 600 15px/1.4 system-ui, sans-serif; }
  .sc-annotation-note { margin: 6px 0 0; color: #ffb020; }
  .sc-annotation-note[hidden] { display: none; }
`;

/** The toolbar (placed inside the stage, over the video) and the note line (placed after it). */
export function renderToolbar(): { toolbar: string; note: string } {
  const tools = TOOL_BUTTONS.map(
    (b, i) => `<button type="button" data-tool="${b.tool}" aria-pressed="${i === 0}" title="${b.title}">${b.label}</button>`,
  ).join('');
  return {
    toolbar: `<div class="sc-tools" id="scopecast-tools" role="toolbar" aria-label="drawing tools">${tools}<span class="sc-tools-sep"></span><button type="button" data-action="pin" aria-pressed="false" title="Pin: new drawings stay until cleared (K)">Pin</button><button type="button" data-action="clear" title="Clear every drawing (Esc clears only yours)">Clear</button></div>`,
    note: '<p class="sc-annotation-note" id="scopecast-annotation-note" role="status" aria-live="polite" hidden></p>',
  };
}
