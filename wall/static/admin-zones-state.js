// What the zone editor's modules (admin-zones*.js) share: the copy of the camera's rules being edited, the
// selection and drawing state, the page elements, and the redraw calls of the editor (admin-zones.js fills them
// in when it builds the page, so that the drawing, the form and the try panel can redraw the rest without
// importing it back).
export const FALLBACK_SIZE = [1280, 720];

export const editor = {
  root: null, // the tab's section
  cameras: [],
  codes: [], // the event catalogue's codes (GET /api/event-codes)
  cameraId: null,
  rules: null, // the camera's rules being edited (a copy of what the server sent)
  savedJson: "", // the rules as last loaded or saved, to tell unsaved changes
  info: { analytics: true, analysed: false },
  selected: -1,
  draft: null, // points of a zone being drawn
  size: FALLBACK_SIZE, // the picture's pixels, for the svg's viewBox
  drag: null, // { index, pointerId, moved } of a point being moved
  lastTry: null,
  trying: false,
};

export const parts = {};

export const redraw = {
  all: () => {}, // everything, after a change of the rules or the selection
  buttons: () => {}, // which buttons are enabled
  state: () => {}, // the "unsaved changes" mark and the notice
};

export const clone = (value) => JSON.parse(JSON.stringify(value));
export const dirty = () => editor.rules !== null && JSON.stringify(editor.rules) !== editor.savedJson;
export const zone = () => (editor.rules && editor.selected >= 0 ? editor.rules.zones[editor.selected] : null);
