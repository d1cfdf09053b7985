// Keyboard-first review: an operator goes through dozens of cases an hour without the mouse.
// j/↓ next, k/↑ previous, c confirm, r reject, p play the clip, h history, b boxes, f file a case from the live
// view (视频立案: the filing dialog keeps its own keys while open); Enter submits the open form,
// Esc cancels it (else closes the history, else leaves the focused field, e.g. a filter, so the letters work). Letters only act outside text fields (typing a note must not confirm a case); Enter and Esc act
// inside the open form too. Browser shortcuts (Ctrl/Alt/Meta) are left alone.

const TEXT_FIELDS = ["INPUT", "SELECT", "TEXTAREA"];

/**
 * @param {{ next: () => void, prev: () => void, confirm: () => void, reject: () => void, play: () => void,
 *           history: () => void, boxes: () => void, file: () => void, submit: () => boolean,
 *           cancel: () => boolean }} actions
 *        submit/cancel return whether there was something to submit or cancel
 */
export function bindKeys(actions) {
  const letters = {
    j: actions.next, arrowdown: actions.next, k: actions.prev, arrowup: actions.prev,
    c: actions.confirm, r: actions.reject, p: actions.play, h: actions.history, b: actions.boxes,
    f: actions.file,
  };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    const inField = TEXT_FIELDS.includes(target.tagName) || target.isContentEditable;
    if (event.key === "Escape") {
      if (actions.cancel()) event.preventDefault();
      return;
    }
    if (event.key === "Enter") {
      // a button (cancel, a media control) does what it says; Shift+Enter is a new line in a note
      if (target.tagName === "BUTTON" || (target.tagName === "TEXTAREA" && event.shiftKey)) return;
      if (actions.submit()) event.preventDefault();
      return;
    }
    if (inField) return;
    const action = letters[event.key.toLowerCase()];
    if (!action || (event.shiftKey && event.key.length > 1)) return;
    event.preventDefault();
    action();
  });
}
