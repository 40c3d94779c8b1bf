// A form template's fields drawn on its blank image: drag to draw a box, name it and give its
// type (a choice's entries too); Save (or Ctrl+S) sends them all; the server checks them (names
// differ, boxes inside the form, a choice has entries) and says what is wrong.
(function () {
  "use strict";
  const svg = document.getElementById("form-svg");
  const boxes = document.getElementById("boxes");
  const list = document.getElementById("field-list");
  const none = document.getElementById("no-fields");
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const rowTemplate = document.getElementById("field-row");
  const data = JSON.parse(document.getElementById("template-data").textContent);
  const api = window.HTR_API;
  const NS = "http://www.w3.org/2000/svg";
  let fields = [];
  let drawing = null;

  function point(e) {
    const p = svg.createSVGPoint();
    p.x = e.clientX;
    p.y = e.clientY;
    const q = p.matrixTransform(svg.getScreenCTM().inverse());
    return [Math.max(0, Math.min(data.width, Math.round(q.x))), Math.max(0, Math.min(data.height, Math.round(q.y)))];
  }

  function extra(f) {
    const out = {};
    for (const k of Object.keys(f)) if (!["name", "type", "box"].includes(k)) out[k] = f[k];
    return out;
  }

  function render() {
    boxes.replaceChildren();
    list.replaceChildren();
    fields.forEach((f, i) => {
      const r = document.createElementNS(NS, "rect");
      const [x0, y0, x1, y1] = f.box;
      r.setAttribute("x", x0);
      r.setAttribute("y", y0);
      r.setAttribute("width", x1 - x0);
      r.setAttribute("height", y1 - y0);
      r.setAttribute("class", "template-box");
      r.dataset.index = i;
      const label = document.createElementNS(NS, "text");
      label.setAttribute("x", x0 + 4);
      label.setAttribute("y", Math.max(14, y0 - 6));
      label.setAttribute("class", "template-label");
      label.textContent = f.name || "?";
      boxes.append(r, label);
      const li = rowTemplate.content.firstElementChild.cloneNode(true);
      li.dataset.index = i;
      const name = li.querySelector(".f-name");
      const type = li.querySelector(".f-type");
      const vocab = li.querySelector(".f-vocab");
      name.value = f.name;
      type.value = f.type || "text";
      vocab.value = (f.vocabulary || []).join(", ");
      vocab.hidden = type.value !== "choice";
      name.addEventListener("input", () => { f.name = name.value.trim(); label.textContent = f.name || "?"; dirty(); });
      type.addEventListener("change", () => { f.type = type.value; vocab.hidden = f.type !== "choice"; dirty(); });
      vocab.addEventListener("input", () => {
        f.vocabulary = vocab.value.split(",").map((v) => v.trim()).filter((v) => v);
        dirty();
      });
      li.querySelector(".f-delete").addEventListener("click", () => { fields.splice(i, 1); render(); dirty(); });
      li.addEventListener("focusin", () => r.classList.add("active"));
      li.addEventListener("focusout", () => r.classList.remove("active"));
      list.append(li);
    });
    none.hidden = fields.length > 0;
  }

  function dirty() { status.textContent = "not saved"; }

  function save() {
    const out = fields.map((f) => {
      const g = { name: f.name, type: f.type || "text", box: f.box, ...extra(f) };
      if (g.type !== "choice") delete g.vocabulary;
      return g;
    });
    error.hidden = true;
    api("PUT", "/api/templates/" + encodeURIComponent(data.name) + "/fields", { fields: out }).then((t) => {
      fields = t.fields.map((f) => ({ ...f }));
      render();
      status.textContent = "saved, " + fields.length + (fields.length === 1 ? " field" : " fields");
    }).catch((err) => {
      error.textContent = "Not saved: " + err.message;
      error.hidden = false;
      status.textContent = "not saved";
    });
  }

  svg.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    const [x, y] = point(e);
    const r = document.createElementNS(NS, "rect");
    r.setAttribute("class", "template-box drawing");
    boxes.append(r);
    drawing = { x, y, r };
    svg.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const [x, y] = point(e);
    drawing.r.setAttribute("x", Math.min(x, drawing.x));
    drawing.r.setAttribute("y", Math.min(y, drawing.y));
    drawing.r.setAttribute("width", Math.abs(x - drawing.x));
    drawing.r.setAttribute("height", Math.abs(y - drawing.y));
  });
  svg.addEventListener("pointerup", (e) => {
    if (!drawing) return;
    const [x, y] = point(e);
    const box = [Math.min(x, drawing.x), Math.min(y, drawing.y), Math.max(x, drawing.x), Math.max(y, drawing.y)];
    drawing.r.remove();
    drawing = null;
    if (box[2] - box[0] < 8 || box[3] - box[1] < 8) return; // a click, not a box
    fields.push({ name: "", type: "text", box });
    render();
    dirty();
    list.lastElementChild.querySelector(".f-name").focus();
  });
  document.getElementById("save").addEventListener("click", save);
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
      e.preventDefault();
      save();
    }
  });

  fields = data.fields.map((f) => ({ ...f }));
  render();
})();
