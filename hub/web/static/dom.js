// A small helper to build elements. Text always goes in as text, never as HTML, so nothing an
// alarm, a site or a note contains can run in the page.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function $(id) {
  return document.getElementById(id);
}

export function show(element, visible) {
  element.hidden = !visible;
}

/** Give each body cell of a table its column's heading as `data-label`, which the narrow (phone)
 * layout shows before the cell when a table is laid out as one block per row. */
export function labelCells(table) {
  const headings = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const row of table.querySelectorAll("tbody tr, tfoot tr")) {
    [...row.cells].forEach((cell, index) => {
      if (headings[index]) cell.dataset.label = headings[index];
    });
  }
  return table;
}
