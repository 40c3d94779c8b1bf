// The JSON API as the review pages call it: the CSRF token on every call; an answer that is
// not 2xx becomes an Error with its status and body (err.status undefined: no answer at all).
window.HTR_API = function (method, url, body) {
  "use strict";
  const opts = { method, headers: { "X-CSRF-Token": window.HTR_CSRF, Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  return fetch(url, opts).then((r) => {
    if (r.ok) return r.json();
    return r.json().catch(() => ({})).then((data) => {
      const err = new Error(typeof data.detail === "string" ? data.detail : r.status + " " + r.statusText);
      err.status = r.status;
      err.data = data;
      throw err;
    });
  });
};
