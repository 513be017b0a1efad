// Wide tables scroll inside their own box (.table-scroll), never the page: nothing needs sideways scrolling at 320 CSS px
// (WCAG 1.4.10). A box that scrolls becomes a named region in the tab order, so a keyboard can scroll it (WCAG 2.1.1);
// a box that fits stays out of it (no empty tab stops). Without JavaScript the boxes scroll all the same.
"use strict";

// The region's name: the table's caption, else its column headings.
function tableName(box) {
  const caption = box.querySelector("caption");
  if (caption) return caption.textContent.trim();
  const headings = Array.from(box.querySelectorAll("thead th"), (cell) => cell.textContent.trim());
  return "Table of " + (headings.join(", ") || "values");
}

function fit(box) {
  const scrolls = box.scrollWidth > box.clientWidth;
  if (scrolls === box.hasAttribute("tabindex")) return;
  if (scrolls) {
    box.setAttribute("tabindex", "0");
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", tableName(box) + " (scrolls sideways)");
  } else {
    ["tabindex", "role", "aria-label"].forEach((name) => box.removeAttribute(name));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const boxes = Array.from(document.querySelectorAll(".table-scroll"));
  if (boxes.length === 0) return;
  // A box's width changes with the window, its table's with the text size: either can make it start or stop scrolling.
  const observer = new ResizeObserver((entries) => entries.forEach((entry) => fit(entry.target.closest(".table-scroll"))));
  boxes.forEach((box) => { observer.observe(box); observer.observe(box.querySelector("table")); });
});
