// A document's fields as a grid of cell crops with their values, those that do not fit their
// type first, then the least sure (fields a template's threshold accepted are not shown): Enter
// saves the value and opens the next field, Up/Down move, Esc drops the edit.
(function () {
  "use strict";
  const grid = document.getElementById("fields");
  const left = document.getElementById("left");
  const empty = document.getElementById("empty");
  const api = window.HTR_API;
  let remaining = 0;

  function showLeft() {
    left.textContent = remaining + (remaining === 1 ? " field left" : " fields left");
    empty.hidden = remaining > 0 || grid.children.length > 0;
  }

  function card(f) {
    const c = document.createElement("section");
    c.className = "field" + (f.confidence < 0.5 || !f.valid ? " low" : "");
    c.dataset.id = f.id;
    const img = document.createElement("img");
    img.src = "/fields/" + f.id + "/image";
    img.alt = f.field + ", page " + f.page + (f.row ? ", row " + f.row : "");
    const label = document.createElement("label");
    label.textContent = f.field + (f.template && f.kind !== "text" ? " (" + f.kind + ")" : "") + " · page " + f.page +
      (f.row ? ", row " + f.row : "") + " · " + f.confidence.toFixed(2) + (f.valid ? "" : " · not a " + f.kind);
    const input = document.createElement("input");
    input.type = "text";
    input.value = f.value;
    input.dataset.original = f.value;
    input.spellcheck = false;
    input.setAttribute("aria-label", f.field + " (page " + f.page + (f.row ? ", row " + f.row : "") + ")");
    const note = document.createElement("p");
    note.className = "note";
    note.setAttribute("role", "alert");
    note.hidden = true;
    c.append(img, label, input, note);
    input.addEventListener("keydown", (e) => keys(e, c, input));
    return c;
  }

  function focus(c) { if (c) c.querySelector("input").focus(); }

  function save(c, input) {
    const note = c.querySelector(".note");
    api("PUT", "/api/fields/" + c.dataset.id, { value: input.value }).then((f) => {
      if (!c.classList.contains("saved")) remaining = Math.max(0, remaining - 1);
      c.classList.add("saved");
      c.classList.remove("low", "failed");
      input.value = f.value;
      input.dataset.original = f.value;
      note.hidden = true;
      showLeft();
      focus(c.nextElementSibling || c);
    }).catch((err) => {
      c.classList.add("failed");
      note.textContent = "Not saved: " + err.message + ". Your text is still in the box.";
      note.hidden = false;
    });
  }

  function keys(e, c, input) {
    if (e.key === "Enter") { e.preventDefault(); save(c, input); }
    else if (e.key === "Escape") { e.preventDefault(); input.value = input.dataset.original; }
    else if (e.key === "ArrowDown") { e.preventDefault(); focus(c.nextElementSibling); }
    else if (e.key === "ArrowUp") { e.preventDefault(); focus(c.previousElementSibling); }
    else if (e.altKey && (e.key === "k" || e.key === "K")) { e.preventDefault(); window.HTR_CHARS.open(); }
  }

  api("GET", "/api/documents/" + grid.dataset.document + "/fields?limit=500").then((data) => {
    remaining = data.left;
    data.fields.forEach((f) => grid.appendChild(card(f)));
    showLeft();
    focus(grid.firstElementChild);
  });
})();
