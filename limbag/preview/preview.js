// The preview page: shows the last good build and its messages, and follows every build the
// server announces (server-sent events). Text from the book is only ever set as text
// (textContent), never as markup; the e-book is shown by epub.js in a frame without scripts.
"use strict";

const WORDS = {
  en: { pages: "Pages", spreads: "Spreads", booklet: "Booklet", epub: "E-book", building: "Building…",
        built: "Built", failed: "The build failed; the last good outputs are shown", messages: "Errors and warnings",
        error: "error", warning: "warning", page: "Page", sheet: "Sheet", noBooklet: "No booklet in this build.",
        noEpub: "No e-book in this build.", lost: "The preview lost the server: is `serve` still running?" },
  tl: { pages: "Mga pahina", spreads: "Magkaharap", booklet: "Booklet", epub: "E-book", building: "Binubuo…",
        built: "Nabuo", failed: "Hindi nabuo; ang huling mabuting bersiyon ang nakikita", messages: "Mga mali at babala",
        error: "mali", warning: "babala", page: "Pahina", sheet: "Pilyego", noBooklet: "Walang booklet sa pagbuong ito.",
        noEpub: "Walang e-book sa pagbuong ito.", lost: "Nawala ang server: tumatakbo pa ba ang `serve`?" },
};
WORDS.fil = WORDS.tl;

const saved = (key, fallback) => { try { return localStorage.getItem("limbag:" + key) ?? fallback; } catch { return fallback; } };
const save = (key, value) => { try { localStorage.setItem("limbag:" + key, value); } catch { /* private mode */ } };

let state = null;
let view = saved("view", "pages");
let words = WORDS.en;
let reader = null;          // { book, rendition, epubVersion }
let shownEpubVersion = -1;

function element(tag, attributes = {}, text = null) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) made.setAttribute(name, value);
  if (text !== null) made.textContent = text;
  return made;
}

// A page or sheet: one <figure> whose <img> changes only when the page's digest changes.
function leaf(container, key, page, caption) {
  let figure = container.querySelector(`figure[data-key="${key}"]`);
  if (!figure) {
    figure = element("figure", { class: "leaf", "data-key": key });
    const image = element("img", { loading: "lazy", decoding: "async", alt: "" });
    figure.append(image, element("figcaption"));
  }
  const image = figure.querySelector("img");
  if (page) {
    figure.classList.remove("empty");
    image.width = Math.round(page.width * 2);
    image.height = Math.round(page.height * 2);
    const source = `/image/${page.digest}.png`;
    if (image.getAttribute("src") !== source) {
      image.setAttribute("src", source);
      figure.dataset.digest = page.digest;
    }
    image.alt = caption;
    figure.querySelector("figcaption").textContent = caption;
  } else {
    figure.classList.add("empty");
  }
  return figure;
}

function showRows(container, rows) {
  // rows: [[key, [figure, ...]], ...]; existing rows are reused so that scrolling stays put.
  const wanted = new Set(rows.map(([key]) => key));
  for (const row of [...container.children]) if (!wanted.has(row.dataset.key)) row.remove();
  let previous = null;
  for (const [key, figures] of rows) {
    let row = container.querySelector(`div.sheet[data-key="${key}"]`);
    if (!row) row = element("div", { class: "sheet", "data-key": key });
    row.replaceChildren(...figures);
    if (previous ? previous.nextSibling !== row : container.firstChild !== row) {
      if (previous) previous.after(row); else container.prepend(row);
    }
    previous = row;
  }
}

function showPages() {
  const pages = state.pages;
  const holder = document.getElementById("pages");
  showRows(holder, pages.map((page, index) => [`p${index}`, [leaf(holder, `p${index}`, page, page.label)]]));
  // Spreads: the first page alone on the right, then left and right pages side by side.
  const spreads = document.getElementById("spreads");
  const rows = [];
  for (let left = -1; left < pages.length; left += 2) {
    const pair = [left, left + 1].map(index => leaf(spreads, `s${index}`, pages[index] ?? null,
      pages[index] ? pages[index].label : ""));
    rows.push([`r${left}`, pair]);
  }
  showRows(spreads, rows);
  const booklet = document.getElementById("booklet");
  if (state.sheets.length) {
    showRows(booklet, state.sheets.map((sheet, index) => [`b${index}`,
      [leaf(booklet, `b${index}`, sheet, `${words.sheet} ${Math.floor(index / 2) + 1}${index % 2 ? "b" : "a"}`)]]));
  } else {
    booklet.replaceChildren(element("p", {}, words.noBooklet));
  }
}

function showMessages() {
  const section = document.getElementById("messages");
  const list = document.getElementById("message-list");
  list.replaceChildren(...state.messages.map(message => {
    const item = element("li", { class: message.kind });
    item.append(element("span", { class: "where" }, message.where), ": ",
                element("span", { class: "kind" }, words[message.kind] ?? message.kind), ": ",
                element("span", { class: "text" }, message.text));
    if (message.hint) item.append(" — ", element("span", { class: "hint" }, message.hint));
    return item;
  }));
  section.hidden = state.messages.length === 0;
  document.getElementById("messages-title").textContent = words.messages;
}

function showStatus() {
  const status = state.building ? "building" : state.failed ? "failed" : "ok";
  document.body.dataset.status = status;
  document.getElementById("status").textContent =
    status === "building" ? words.building : status === "failed" ? words.failed : `${words.built} ${new Date().toLocaleTimeString()}`;
}

async function showEpub() {
  const holder = document.getElementById("reader");
  if (!state.epub) { holder.replaceChildren(element("p", {}, words.noEpub)); return; }
  if (view !== "epub" || shownEpubVersion === state.version || state.building) return;
  shownEpubVersion = state.version;
  const response = await fetch(`/book.epub?v=${state.version}`, { cache: "no-store" });
  const data = await response.arrayBuffer();
  const place = saved("epub-place", null);
  if (reader) reader.book.destroy();
  holder.replaceChildren();
  const book = ePub(data);
  const rendition = book.renderTo(holder, { width: "100%", height: "100%", flow: "paginated", allowScriptedContent: false });
  rendition.on("relocated", location => {
    save("epub-place", location.start.cfi);
    document.getElementById("reader-place").textContent = location.start.displayed
      ? `${location.start.displayed.page} / ${location.start.displayed.total}` : "";
    document.body.dataset.epubPlace = location.start.cfi;
  });
  reader = { book, rendition };
  try { await rendition.display(place || undefined); } catch { await rendition.display(); }
  document.body.dataset.epubShown = String(state.version);
}

function choose(next) {
  view = next;
  save("view", view);
  for (const button of document.querySelectorAll("#views button")) {
    button.setAttribute("aria-pressed", String(button.dataset.view === view));
  }
  for (const name of ["pages", "spreads", "booklet", "epub"]) document.getElementById(name).hidden = name !== view;
  if (state) showEpub();
}

async function refresh() {
  const response = await fetch("/state", { cache: "no-store" });
  state = await response.json();
  words = WORDS[state.language] ?? WORDS.en;
  document.documentElement.lang = WORDS[state.language] ? state.language : "en";
  for (const button of document.querySelectorAll("#views button")) button.textContent = words[button.dataset.view];
  if (state.title) { document.getElementById("title").textContent = state.title; document.title = `${state.title} · Limbag`; }
  showStatus();
  showMessages();
  showPages();
  await showEpub();
  document.body.dataset.version = String(state.version);
}

function follow() {
  const events = new EventSource("/events");
  let queued = Promise.resolve();
  events.onmessage = () => { queued = queued.then(refresh).catch(() => {}); };
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) document.getElementById("status").textContent = words.lost;
  };
}

// Where the reader was (the page in view) is kept across reloads of the preview.
function keepPlace() {
  let timer = null;
  addEventListener("scroll", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const shown = [...document.querySelectorAll(`#${view} figure`)].find(figure => figure.getBoundingClientRect().bottom > 80);
      if (shown) save(`place-${view}`, shown.dataset.key);
    }, 200);
  });
}

function restorePlace() {
  const key = saved(`place-${view}`, null);
  const figure = key && document.querySelector(`#${view} figure[data-key="${key}"]`);
  if (figure) figure.scrollIntoView({ block: "start" });
}

document.getElementById("views").addEventListener("click", event => {
  const button = event.target.closest("button[data-view]");
  if (button) { choose(button.dataset.view); restorePlace(); }
});
document.getElementById("previous").addEventListener("click", () => reader && reader.rendition.prev());
document.getElementById("next").addEventListener("click", () => reader && reader.rendition.next());
addEventListener("keydown", event => {
  if (view !== "epub" || !reader) return;
  if (event.key === "ArrowLeft") reader.rendition.prev();
  if (event.key === "ArrowRight") reader.rendition.next();
});

choose(view);
refresh().then(restorePlace).finally(() => { keepPlace(); follow(); });
