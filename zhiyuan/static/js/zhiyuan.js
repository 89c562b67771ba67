// Zhiyuan's own small script. No inline scripts anywhere: the Content-Security-Policy forbids them.

// On a phone the tables' header rows are hidden and each row becomes a block: give every cell
// its column's name (data-label), which the stylesheet shows before the value.
function labelTableCells(root) {
  root.querySelectorAll("table.table").forEach((table) => {
    const names = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((row) => {
      Array.from(row.children).forEach((cell, i) => {
        if (names[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[i]);
      });
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  // Switch language as soon as it is chosen; the button stays for keyboard and no-script users.
  const select = document.getElementById("lang-select");
  if (select && select.form) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
  labelTableCells(document);
});

// Rows that htmx swaps in (live check-ins, queues) get their labels too.
document.addEventListener("htmx:afterSwap", (event) => labelTableCells(event.target));
