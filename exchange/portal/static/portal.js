// Small conveniences; every page works without them.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Bill-of-materials editor: another empty row, copied from the last one.
  const add = document.getElementById("add-line");
  if (add) {
    add.hidden = false;
    add.addEventListener("click", () => {
      const body = document.querySelector("#bom tbody");
      const last = body.lastElementChild;
      const row = last.cloneNode(true);
      const index = body.children.length;
      row.querySelectorAll("input, select").forEach((field) => {
        if (field.tagName === "INPUT") field.value = "";
        if (field.id) field.id = field.id.replace(/-\d+$/, `-${index}`);
      });
      row.querySelectorAll("label").forEach((label) => {
        const target = label.getAttribute("for");
        if (target) label.setAttribute("for", target.replace(/-\d+$/, `-${index}`));
      });
      body.appendChild(row);
      row.querySelector("input, select").focus();
    });
  }
  // Menus: one group open at a time; Escape or a click elsewhere closes it.
  const groups = Array.from(document.querySelectorAll("details.menu-group"));
  const closeAll = (except) => groups.forEach((group) => { if (group !== except) group.open = false; });
  groups.forEach((group) => {
    group.addEventListener("toggle", () => { if (group.open) closeAll(group); });
    group.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && group.open) {
        group.open = false;
        group.querySelector("summary").focus();
      }
    });
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest("details.menu-group")) closeAll(null);
  });
  // Forms that ask before an irreversible step (data-confirm holds the question).
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});
