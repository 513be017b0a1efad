// Try page: after Score the page comes back with the results under the form, the focus at the top of a new page.
// Moving the focus to the results' heading tells a screen-reader user that they arrived (and shows them, scrolled to).
// The form and results work without JavaScript; the page's Content-Security-Policy allows no inline script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("results-heading")?.focus();
});
