// Applies the saved theme before the page paints (a file, not an inline script: CSP).
(function () {
  var saved = null;
  try { saved = localStorage.getItem("vrm-theme"); } catch (e) { /* private mode */ }
  var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
})();
