// Special-character keys (the .chars toolbar): a key inserts its character at the caret of
// the line last edited and gives the focus back to it. From a line, Alt+K opens the keys;
// Left/Right move between them, Enter or Space inserts, Esc goes back to the line.
(function () {
  "use strict";
  const bar = document.querySelector(".chars");
  let target = null; // the text box last in focus, with its caret
  let caret = [0, 0];

  document.addEventListener("focusin", (e) => {
    if (e.target instanceof HTMLInputElement && e.target.type === "text" && !e.target.closest(".chars")) target = e.target;
  });
  document.addEventListener("focusout", (e) => {
    if (e.target === target) caret = [target.selectionStart, target.selectionEnd]; // where a key inserts
  });

  function insert(ch) {
    if (!target) return;
    const [a, b] = document.activeElement === target ? [target.selectionStart, target.selectionEnd] : caret;
    target.setRangeText(ch, a, b, "end");
    target.dispatchEvent(new Event("input", { bubbles: true }));
    target.focus();
    caret = [a + ch.length, a + ch.length];
    target.setSelectionRange(caret[0], caret[1]);
  }

  function keys() { return bar ? Array.from(bar.querySelectorAll("button.char")) : []; }

  function focusKey(i) {
    const all = keys();
    if (!all.length) return;
    const k = (i + all.length) % all.length;
    all.forEach((b, j) => { b.tabIndex = j === k ? 0 : -1; });
    all[k].focus();
  }

  if (bar) {
    // A mouse press must not take the focus from the line (its caret is where the key goes).
    bar.addEventListener("mousedown", (e) => { if (e.target.closest("button.char")) e.preventDefault(); });
    bar.addEventListener("click", (e) => {
      const b = e.target.closest("button.char");
      if (b) insert(b.dataset.char);
    });
    bar.addEventListener("keydown", (e) => {
      const all = keys();
      const i = all.indexOf(document.activeElement);
      if (i < 0) return;
      if (e.key === "ArrowRight") { e.preventDefault(); focusKey(i + 1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); focusKey(i - 1); }
      else if (e.key === "Home") { e.preventDefault(); focusKey(0); }
      else if (e.key === "End") { e.preventDefault(); focusKey(all.length - 1); }
      else if (e.key === "Escape") { e.preventDefault(); if (target) target.focus(); }
      else if (e.key === "Enter" || e.key === " ") { e.preventDefault(); insert(all[i].dataset.char); }
    });
  }

  window.HTR_CHARS = {
    open() {
      const all = keys();
      const k = Math.max(0, all.findIndex((b) => b.tabIndex === 0));
      focusKey(k);
    },
  };
})();
