// The review queue: the least sure lines first, each as its image above its text.
// Enter saves and opens the next line, Up/Down move (Down on the last line fetches more),
// F2 accepts a line as read (a line typed into is saved as typed),
// Esc undoes the edit of the current line, Alt+K opens the special-character keys. Saves go through the JSON API and name
// the version of the line they edited: a line someone saved meanwhile is not
// overwritten; their text is shown, and ours stays in the box. A save that fails
// says so under its line, and the typed text stays.
(function () {
  "use strict";
  const queue = document.getElementById("queue");
  const left = document.getElementById("left");
  const empty = document.getElementById("empty");
  const doc = queue.dataset.document;
  const low = parseFloat(queue.dataset.low);
  const seen = new Set();
  let remaining = 0;

  const api = window.HTR_API;

  function tell(li, text) {
    const note = li.querySelector(".note");
    note.textContent = text;
    note.hidden = !text;
  }

  function failure(err) {
    const kept = " Your text is still in the box";
    if (err.status === 409 && err.data && err.data.line) {
      const now = err.data.line;
      return "Not saved: " + (now.reviewed_by || "someone") + " saved this line meanwhile as \u201c" + now.text +
        "\u201d." + kept + ": Enter saves it over theirs, Esc takes theirs.";
    }
    if (err.status === 401) return "Not saved: your login has ended; log in again in another tab." + kept + ": then press Enter.";
    if (err.status === undefined) return "Not saved: the server cannot be reached." + kept + ": Enter tries again.";
    return "Not saved: " + err.message + "." + kept + ".";
  }

  function showLeft() {
    left.textContent = remaining + (remaining === 1 ? " line left" : " lines left");
    empty.hidden = remaining > 0 || queue.children.length > 0;
  }

  function item(line) {
    const li = document.createElement("section");
    li.className = "item";
    li.dataset.id = line.line_id;
    li.dataset.original = line.text;
    li.dataset.version = line.version;
    const img = document.createElement("img");
    img.src = "/lines/" + line.line_id + "/image";
    img.alt = "line " + line.line + " of page " + line.page;
    const marks = document.createElement("div");
    marks.className = "marks";
    line.words.forEach((w) => {
      const s = document.createElement("span");
      s.textContent = w.text + " ";
      if (w.confidence < low) s.className = "low";
      s.title = w.confidence.toFixed(2);
      marks.appendChild(s);
    });
    const input = document.createElement("input");
    input.type = "text";
    input.value = line.text;
    input.spellcheck = false;
    input.setAttribute("aria-label", "text of line " + line.line_id);
    const where = document.createElement("small");
    where.textContent = "document " + line.document_id + ", page " + line.page + ", line " + line.line;
    const note = document.createElement("p");
    note.className = "note";
    note.setAttribute("role", "alert");
    note.hidden = true;
    li.append(img, marks, input, note, where);
    input.addEventListener("keydown", (e) => keys(e, li, input));
    input.addEventListener("focus", () => li.classList.add("current"));
    input.addEventListener("blur", () => li.classList.remove("current"));
    return li;
  }

  function load(focusFirst) {
    const q = "/api/review?limit=20" + (doc ? "&document=" + doc : "") + (queue.dataset.mine ? "&mine=true" : "") + (queue.dataset.order === "spread" ? "&spread=true" : queue.dataset.order === "teach" ? "&teach=true" : "");
    return api("GET", q).then((data) => {
      remaining = data.left;
      data.lines.filter((l) => !seen.has(l.line_id)).forEach((l) => {
        seen.add(l.line_id);
        queue.appendChild(item(l));
      });
      showLeft();
      if (focusFirst && queue.firstElementChild) queue.firstElementChild.querySelector("input").focus();
    });
  }

  function move(li, step) {
    const next = step > 0 ? li.nextElementSibling : li.previousElementSibling;
    if (next) next.querySelector("input").focus();
    if (step > 0 && !(next && next.nextElementSibling)) {
      // Near the end of what is shown: fetch more; from the last line, go on to the first fetched.
      load(false).then(() => {
        if (!next && li.nextElementSibling && document.activeElement === li.querySelector("input")) {
          li.nextElementSibling.querySelector("input").focus();
        }
      });
    }
  }

  function save(li, input, accept) {
    const id = li.dataset.id;
    const version = parseInt(li.dataset.version, 10);
    const req = accept
      ? api("POST", "/api/lines/" + id + "/accept", { version })
      : api("PUT", "/api/lines/" + id, { text: input.value, version });
    li.classList.add("saving");
    return req.then((line) => {
      li.classList.remove("saving", "failed", "stale");
      tell(li, "");
      if (!li.classList.contains("saved")) remaining = Math.max(0, remaining - 1);
      li.classList.add("saved");
      input.value = line.text;
      li.dataset.original = line.text;
      li.dataset.version = line.version;
      showLeft();
      if (li.nextElementSibling) li.nextElementSibling.querySelector("input").focus();
      else load(false).then(() => li.nextElementSibling && li.nextElementSibling.querySelector("input").focus());
    }).catch((err) => {
      li.classList.remove("saving");
      li.classList.add("failed");
      if (err.status === 409 && err.data && err.data.line) {
        // Theirs is what the line holds now: Esc takes it, Enter saves ours over it knowingly.
        li.classList.add("stale");
        li.dataset.original = err.data.line.text;
        li.dataset.version = err.data.line.version;
      }
      tell(li, failure(err));
      input.focus();
    });
  }

  function keys(e, li, input) {
    if (e.key === "Enter") { e.preventDefault(); save(li, input, false); }
    else if (e.key === "F2") {
      // Accept the line as read; a line typed into is saved as typed, never thrown away.
      e.preventDefault();
      save(li, input, input.value === li.dataset.original);
    }
    else if (e.key === "Escape") { e.preventDefault(); input.value = li.dataset.original; tell(li, ""); }
    else if (e.key === "ArrowDown") { e.preventDefault(); move(li, 1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); move(li, -1); }
    else if (e.altKey && (e.key === "k" || e.key === "K")) { e.preventDefault(); window.HTR_CHARS.open(); }
  }

  load(true);
})();
