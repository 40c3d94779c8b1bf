// The page editor: the page image with its line and word boxes beside the lines' text.
// The line in focus is outlined on the image and scrolled into view there; a click on a line
// of the image opens its text. Enter saves and opens the next line, Up/Down move, F2 accepts,
// Esc drops the edit, Ctrl+Z (with no edit in progress) undoes the line's last save, Alt+H
// opens its history (Enter on a version brings it back), Alt+K the special characters,
// Alt+M merges the line with the next, Alt+S splits it at the caret, Alt+Delete deletes it,
// Alt+N draws a missing line (drag a box on the image), Alt+B adds one in the gap under the
// current line (by keyboard). Lines no person has read yet are read
// again by the model after a merge, a split or a drawing.
// Alt+plus / Alt+minus / Alt+0 zoom the image, Ctrl+wheel too. Who else has the page open is
// said above it. Every change names the version
// of the line it was made from: a line someone saved meanwhile is not overwritten.
(function () {
  "use strict";
  const editor = document.getElementById("editor");
  if (!editor) return;
  const api = window.HTR_API;
  const doc = editor.dataset.document;
  const pageNo = editor.dataset.page;
  const low = parseFloat(editor.dataset.low);
  const list = document.getElementById("lines");
  const view = document.getElementById("view");
  const svg = document.getElementById("page-svg");
  const versions = document.getElementById("versions");
  const historyOf = document.getElementById("history-of");
  const left = document.getElementById("left");
  const NS = "http://www.w3.org/2000/svg";
  let current = null; // the <li> of the line in focus
  let zoom = 1;

  const items = () => Array.from(list.children);
  const inputOf = (li) => li.querySelector("input");
  const band = (c) => (c < low ? "low" : c < 0.8 ? "mid" : "high");

  function tell(li, text) {
    const note = li.querySelector(".note");
    note.textContent = text;
    note.hidden = !text;
  }

  function failure(err) {
    if (err.status === 409 && err.data && err.data.line) {
      const now = err.data.line;
      return "Not saved: " + (now.reviewed_by || "someone") + " changed this line meanwhile; it now reads \u201c" + now.text +
        "\u201d. Your text is still in the box: Enter saves it over theirs, Esc takes theirs.";
    }
    if (err.status === 401) return "Not saved: your login has ended; log in again in another tab, then try again.";
    if (err.status === undefined) return "Not saved: the server cannot be reached. Your text is still in the box: try again.";
    return "Not done: " + err.message + ".";
  }

  function showOnImage(li) {
    svg.querySelectorAll(".line-shape.current").forEach((g) => g.classList.remove("current"));
    const g = svg.querySelector('.line-shape[data-line="' + li.dataset.id + '"]');
    if (!g) return;
    g.classList.add("current");
    const r = g.querySelector(".line-box").getBoundingClientRect();
    const v = view.getBoundingClientRect();
    if (r.top < v.top || r.bottom > v.bottom) view.scrollTop += r.top - v.top - v.height / 3;
    if (r.left < v.left || r.right > v.right) view.scrollLeft += r.left - v.left - 20;
  }

  function focusLine(li) {
    if (!li) return;
    const input = inputOf(li);
    if (document.activeElement !== input) input.focus();
  }

  function onFocus(li) {
    if (current === li) return;
    if (current) current.classList.remove("current");
    current = li;
    li.classList.add("current");
    showOnImage(li);
    loadHistory(li);
  }

  // What the server says the line is now: its text, version, review, words (text and image).
  function applyLine(li, line) {
    const input = inputOf(li);
    const wasReviewed = li.classList.contains("reviewed");
    input.value = line.text;
    input.dataset.original = line.text;
    li.dataset.version = line.version;
    li.classList.toggle("reviewed", !!line.reviewed_by);
    li.classList.remove("failed", "stale");
    if (left && wasReviewed !== !!line.reviewed_by) {
      left.textContent = Math.max(0, parseInt(left.textContent, 10) + (line.reviewed_by ? -1 : 1));
    }
    const marks = li.querySelector(".marks");
    marks.textContent = "";
    line.words.forEach((w) => {
      const s = document.createElement("span");
      s.textContent = w.text;
      if (band(w.confidence) !== "high") s.className = band(w.confidence);
      s.title = w.confidence.toFixed(2);
      marks.append(s, " ");
    });
    const g = svg.querySelector('.line-shape[data-line="' + line.id + '"]');
    if (g) {
      g.querySelectorAll(".word-box").forEach((r) => r.remove());
      line.words.forEach((w) => {
        const r = document.createElementNS(NS, "rect");
        r.setAttribute("class", "word-box " + band(w.confidence));
        const [x0, y0, x1, y1] = w.box;
        r.setAttribute("x", x0); r.setAttribute("y", y0);
        r.setAttribute("width", x1 - x0); r.setAttribute("height", y1 - y0);
        const t = document.createElementNS(NS, "title");
        t.textContent = w.text + " (" + w.confidence.toFixed(2) + ")";
        r.appendChild(t);
        g.appendChild(r);
      });
    }
    tell(li, "");
  }

  function refused(li, err) {
    li.classList.add("failed");
    if (err.status === 409 && err.data && err.data.line) {
      li.classList.add("stale");
      inputOf(li).dataset.original = err.data.line.text;
      li.dataset.version = err.data.line.version;
    }
    tell(li, failure(err));
    focusLine(li);
  }

  function save(li, accept) {
    const input = inputOf(li);
    const version = parseInt(li.dataset.version, 10);
    const req = accept
      ? api("POST", "/api/lines/" + li.dataset.id + "/accept", { version })
      : api("PUT", "/api/lines/" + li.dataset.id, { text: input.value, version });
    li.classList.add("saving");
    return req.then((line) => {
      li.classList.remove("saving");
      applyLine(li, line);
      li.classList.add("saved");
      loadHistory(li, true);
      focusLine(li.nextElementSibling || li);
    }).catch((err) => { li.classList.remove("saving"); refused(li, err); });
  }

  function change(li, path, body) {
    return api("POST", "/api/lines/" + li.dataset.id + path, body);
  }

  function undo(li) {
    change(li, "/undo", { version: parseInt(li.dataset.version, 10) })
      .then((line) => { applyLine(li, line); loadHistory(li, true); focusLine(li); })
      .catch((err) => refused(li, err));
  }

  function revert(li, editId) {
    change(li, "/revert", { edit_id: editId, version: parseInt(li.dataset.version, 10) })
      .then((line) => { applyLine(li, line); loadHistory(li, true); focusLine(li); })
      .catch((err) => refused(li, err));
  }

  // Merges, splits and deletions change the page's lines: the page is drawn again from the server.
  function reopen(lineId) {
    location.assign("/documents/" + doc + "?page_no=" + pageNo + (lineId ? "&line=" + lineId : ""));
  }

  function merge(li) {
    const next = li.nextElementSibling;
    if (!next) { tell(li, "This is the last line of the page: there is no next line to merge it with."); return; }
    change(li, "/merge", { version: parseInt(li.dataset.version, 10), next_version: parseInt(next.dataset.version, 10) })
      .then((line) => reopen(line.id))
      .catch((err) => refused(li, err));
  }

  function split(li) {
    const input = inputOf(li);
    change(li, "/split", { at: input.selectionStart, version: parseInt(li.dataset.version, 10) })
      .then((data) => reopen(data.lines[1].id))
      .catch((err) => refused(li, err));
  }

  function remove(li) {
    if (!window.confirm("Delete line \u201c" + inputOf(li).value + "\u201d? It leaves the transcript (the activity list keeps it).")) return;
    const next = li.nextElementSibling || li.previousElementSibling;
    change(li, "/delete", { version: parseInt(li.dataset.version, 10) })
      .then(() => reopen(next ? next.dataset.id : null))
      .catch((err) => refused(li, err));
  }

  // Drawing a missing line: Alt+N (or the button), then drag a box on the image; Esc stops.
  let drawing = null; // {start: [x, y], rect} while the mouse is down; {} while waiting for it
  function pagePoint(e) {
    const pt = svg.createSVGPoint();
    pt.x = e.clientX;
    pt.y = e.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    return [Math.round(p.x), Math.round(p.y)];
  }
  function draw(on) {
    drawing = on ? {} : null;
    view.classList.toggle("drawing", on);
    const b = document.querySelector('.line-tools [data-act="draw"]');
    b.setAttribute("aria-pressed", on ? "true" : "false");
    if (on && current) tell(current, "Drag a box around the missing line on the page image (Esc: stop).");
    else if (current) tell(current, "");
  }
  function boxOf(a, b) {
    return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  }
  svg.addEventListener("mousedown", (e) => {
    if (!drawing) return;
    e.preventDefault();
    const start = pagePoint(e);
    const rect = document.createElementNS(NS, "rect");
    rect.setAttribute("class", "drawn");
    svg.appendChild(rect);
    drawing = { start, rect };
  });
  svg.addEventListener("mousemove", (e) => {
    if (!drawing || !drawing.rect) return;
    const [x0, y0, x1, y1] = boxOf(drawing.start, pagePoint(e));
    drawing.rect.setAttribute("x", x0); drawing.rect.setAttribute("y", y0);
    drawing.rect.setAttribute("width", x1 - x0); drawing.rect.setAttribute("height", y1 - y0);
  });
  svg.addEventListener("mouseup", (e) => {
    if (!drawing || !drawing.rect) return;
    const box = boxOf(drawing.start, pagePoint(e));
    drawing.rect.remove();
    draw(false);
    api("POST", "/api/pages/" + editor.dataset.pageId + "/lines", { box })
      .then((line) => reopen(line.id))
      .catch((err) => { if (current) refused(current, err); });
  });
  document.addEventListener("keydown", (e) => { if (drawing && e.key === "Escape") { e.preventDefault(); draw(false); } });

  // By keyboard (Alt+B): a missing line in the gap under the current one, as tall as it, read by the model.
  function addBelow(li) {
    const box = (el) => svg.querySelector("#box-" + el.dataset.id);
    const r = box(li);
    const [x0, y0, w, h] = ["x", "y", "width", "height"].map((k) => parseInt(r.getAttribute(k), 10));
    const next = li.nextElementSibling;
    const limit = next ? parseInt(box(next).getAttribute("y"), 10) : y0 + 2 * h;
    const bottom = Math.min(limit, y0 + 2 * h);
    api("POST", "/api/pages/" + editor.dataset.pageId + "/lines", { box: [x0, y0 + h, x0 + w, bottom] })
      .then((line) => reopen(line.id))
      .catch((err) => refused(li, err));
  }

  function loadHistory(li, force) {
    if (!force && versions.dataset.line === li.dataset.id) return;
    versions.dataset.line = li.dataset.id;
    historyOf.textContent = "of line " + (items().indexOf(li) + 1);
    api("GET", "/api/lines/" + li.dataset.id + "/history").then((data) => {
      if (versions.dataset.line !== li.dataset.id) return;
      versions.textContent = "";
      const rows = data.history;
      const entry = (label, text, editId, undone) => {
        const item = document.createElement("li");
        if (undone) item.className = "undone";
        const what = document.createElement("span");
        what.textContent = label + ": \u201c" + text + "\u201d";
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = "Restore";
        b.setAttribute("aria-label", "restore \u201c" + text + "\u201d");
        b.addEventListener("click", () => revert(li, editId));
        b.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); focusLine(li); } });
        item.append(what, " ", b);
        versions.appendChild(item);
      };
      if (!rows.length) {
        const item = document.createElement("li");
        item.textContent = "As read by the model; nobody has saved it yet.";
        versions.appendChild(item);
        return;
      }
      const first = rows[0].action === "split" || rows[0].action === "merge" ? "before the " + rows[0].action : "as read";
      entry(first, rows[0].old_text, null, false);
      rows.forEach((h) => {
        const when = (h.at || "").slice(0, 16).replace("T", " ");
        entry(h.action + " by " + h.user + ", " + when + (h.undone ? " (undone)" : ""), h.new_text, h.id, h.undone);
      });
    }).catch(() => { versions.textContent = ""; });
  }

  function setZoom(z) {
    zoom = Math.min(8, Math.max(0.25, z));
    svg.style.width = Math.round(zoom * 100) + "%";
    document.getElementById("zoom-level").textContent = Math.round(zoom * 100) + "%";
    if (current) showOnImage(current);
  }

  function keys(e, li) {
    const input = inputOf(li);
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (e.altKey && !e.ctrlKey) {
      const acts = {
        k: () => window.HTR_CHARS.open(),
        h: () => { const b = versions.querySelector("button"); if (b) b.focus(); },
        m: () => merge(li),
        n: () => draw(!drawing),
        b: () => addBelow(li),
        s: () => split(li),
        Delete: () => remove(li),
        "=": () => setZoom(zoom * 1.25),
        "+": () => setZoom(zoom * 1.25),
        "-": () => setZoom(zoom / 1.25),
        0: () => setZoom(1),
      };
      if (acts[key]) { e.preventDefault(); acts[key](); }
      return;
    }
    if (e.key === "Enter") { e.preventDefault(); save(li, false); }
    else if (e.key === "F2") { e.preventDefault(); save(li, input.value === input.dataset.original); }
    else if (e.key === "Escape") { e.preventDefault(); input.value = input.dataset.original; tell(li, ""); }
    else if (e.key === "ArrowDown") { e.preventDefault(); focusLine(li.nextElementSibling); }
    else if (e.key === "ArrowUp") { e.preventDefault(); focusLine(li.previousElementSibling); }
    else if (e.ctrlKey && key === "z" && input.value === input.dataset.original) { e.preventDefault(); undo(li); }
  }

  items().forEach((li) => {
    const input = inputOf(li);
    input.addEventListener("focus", () => onFocus(li));
    input.addEventListener("keydown", (e) => keys(e, li));
  });
  svg.addEventListener("click", (e) => {
    if (drawing || view.classList.contains("drawing")) return;
    const g = e.target.closest(".line-shape");
    if (g) focusLine(document.getElementById("line-" + g.dataset.line));
  });
  view.addEventListener("wheel", (e) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    setZoom(e.deltaY < 0 ? zoom * 1.1 : zoom / 1.1);
  }, { passive: false });
  document.querySelector(".zoom").addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    setZoom(b.dataset.zoom === "in" ? zoom * 1.25 : b.dataset.zoom === "out" ? zoom / 1.25 : 1);
  });
  const tools = document.querySelector(".line-tools");
  tools.addEventListener("mousedown", (e) => e.preventDefault()); // the line keeps its focus and caret
  tools.addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b || (!current && b.dataset.act !== "draw")) return;
    if (b.dataset.act === "draw") { draw(!drawing); return; }
    ({ undo, merge, split, delete: remove, below: addBelow })[b.dataset.act](current);
  });

  // Presence: who else has this page open, said above it; told again every 20 s.
  const presence = document.getElementById("presence");
  const presenceUrl = "/api/pages/" + editor.dataset.pageId + "/presence";
  function beat() {
    api("POST", presenceUrl).then((data) => {
      const names = data.others.map((o) => o.user + " (since " + o.since.slice(11, 16) + ")");
      presence.textContent = names.length ? "Also on this page: " + names.join(", ") + ". Their saves and yours are checked line by line." : "";
      presence.hidden = !names.length;
    }).catch(() => {});
  }
  beat();
  setInterval(beat, 20000);
  window.addEventListener("pagehide", () => {
    fetch(presenceUrl + "?leaving=true", { method: "POST", keepalive: true, headers: { "X-CSRF-Token": window.HTR_CSRF } });
  });

  const wanted = editor.dataset.focus && document.getElementById("line-" + editor.dataset.focus);
  focusLine(wanted || items().find((li) => !li.classList.contains("reviewed")) || items()[0]);
  const mark = document.getElementById("mark");
  if (mark) {
    const r = mark.getBoundingClientRect();
    const v = view.getBoundingClientRect();
    view.scrollTop += r.top - v.top - v.height / 3;
  }
})();
