// The session's CSRF token, from the page's <meta name="htr-csrf"> (the Content-Security-Policy
// allows no inline script), for the scripts that call the JSON API.
window.HTR_CSRF = (document.querySelector('meta[name="htr-csrf"]') || {}).content || "";
