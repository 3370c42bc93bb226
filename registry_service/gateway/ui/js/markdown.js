// Descriptions as Markdown, safely: a small subset (paragraphs with line breaks, headings, lists,
// fenced code, inline code, emphasis, strong, links) built as DOM nodes whose text is only ever
// textContent. Raw HTML is not a feature: it shows as the text it is. Links go only to http(s),
// mailto and relative addresses, open in a new tab, and carry rel="noopener noreferrer".

import { h } from "./dom.js";

const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const BULLET = /^ {0,3}[-*+][ \t]+(.*)$/;
const NUMBERED = /^ {0,3}(\d{1,9})[.)][ \t]+(.*)$/;
const ESCAPABLE = /[\\`*_{}[\]()#+\-.!<>~|]/;

/** The description as a fragment of block elements. */
export function markdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    if (!line.trim()) {
      index += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      index += 1;
      while (index < lines.length && !lines[index].trimStart().startsWith(fence[1])) {
        body.push(lines[index]);
        index += 1;
      }
      index += 1;
      const code = h("code", fence[2] ? { "data-language": fence[2] } : {}, body.join("\n"));
      fragment.append(h("pre", { class: "md-code" }, code));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      // The page's sections are h2: a description's own headings sit below them.
      const level = Math.min(heading[1].length + 2, 6);
      if (heading[2]) fragment.append(h(`h${level}`, { class: "md-heading" }, inline(heading[2])));
      index += 1;
      continue;
    }
    if (BULLET.test(line) || NUMBERED.test(line)) {
      index = list(lines, index, fragment);
      continue;
    }
    const paragraph = [];
    while (index < lines.length && lines[index].trim() && !interrupts(lines[index])) {
      paragraph.push(lines[index].trim());
      index += 1;
    }
    fragment.append(h("p", {}, withBreaks(paragraph)));
  }
  return fragment;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || BULLET.test(line) || NUMBERED.test(line);
}

/** A line that ends a paragraph; a numbered line only as "1." ("In 2024. sales…" does not). */
function interrupts(line) {
  const numbered = NUMBERED.exec(line);
  return numbered ? numbered[1] === "1" : startsBlock(line);
}

/** A list of bullet or numbered items; indented lines continue the item above. */
function list(lines, start, fragment) {
  const numbered = !BULLET.test(lines[start]);
  const pattern = numbered ? NUMBERED : BULLET;
  const items = [];
  let index = start;
  let first = null;
  while (index < lines.length) {
    const item = pattern.exec(lines[index]);
    if (item) {
      if (first === null && numbered) first = Number(item[1]);
      items.push([numbered ? item[2] : item[1]]);
    } else if (lines[index].trim() && /^\s/.test(lines[index]) && !startsBlock(lines[index])) {
      items[items.length - 1].push(lines[index].trim());
    } else {
      break;
    }
    index += 1;
  }
  const props = numbered && first !== 1 ? { start: first } : {};
  fragment.append(h(numbered ? "ol" : "ul", props, items.map((item) => h("li", {}, withBreaks(item)))));
  return index;
}

/** Lines of one block: inline Markdown each, a line break between them. */
function withBreaks(lines) {
  return lines.flatMap((line, position) => (position ? [h("br"), ...inline(line)] : inline(line)));
}

// Longest link label and address looked for: beyond them a "[" is plain text, so that no line
// of brackets costs more than linear time.
const MAX_LABEL = 300;
const MAX_ADDRESS = 2048;

/** Inline Markdown as nodes: code spans, links, strong, emphasis, backslash escapes. */
export function inline(text, inLink = false) {
  // Where a search for each emphasis marker's closer found none: a closer is judged by the
  // characters around it alone, so none is found from any later opener either.
  const unclosed = {};
  const nodes = [];
  let plain = "";
  const flush = () => {
    if (plain) nodes.push(document.createTextNode(plain));
    plain = "";
  };
  let at = 0;
  while (at < text.length) {
    const char = text[at];
    if (char === "\\" && ESCAPABLE.test(text[at + 1] ?? "")) {
      plain += text[at + 1];
      at += 2;
      continue;
    }
    if (char === "`") {
      const run = /^`+/.exec(text.slice(at))[0];
      const close = text.indexOf(run, at + run.length);
      if (close > 0) {
        flush();
        nodes.push(h("code", {}, text.slice(at + run.length, close).trim() || text.slice(at + run.length, close)));
        at = close + run.length;
        continue;
      }
      plain += run;
      at += run.length;
      continue;
    }
    if (char === "[" && !inLink) {
      const link = linkAt(text, at);
      if (link) {
        flush();
        nodes.push(linkNode(link.label, link.href));
        at = link.end;
        continue;
      }
    }
    if (char === "*" || char === "_") {
      const span = emphasisAt(text, at, unclosed);
      if (span) {
        flush();
        nodes.push(h(span.strong ? "strong" : "em", {}, inline(span.inner, inLink)));
        at = span.end;
        continue;
      }
    }
    plain += char;
    at += 1;
  }
  flush();
  return nodes;
}

/** `[label](href)` at `at`, brackets and parentheses balanced; null if it is not one. */
function linkAt(text, at) {
  let depth = 0;
  let close = -1;
  for (let i = at; i < Math.min(text.length, at + MAX_LABEL); i += 1) {
    if (text[i] === "\\") i += 1;
    else if (text[i] === "[") depth += 1;
    else if (text[i] === "]" && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0 || text[close + 1] !== "(") return null;
  depth = 0;
  for (let i = close + 1; i < Math.min(text.length, close + MAX_ADDRESS); i += 1) {
    if (text[i] === "(") depth += 1;
    else if (text[i] === ")" && --depth === 0) {
      // An optional "title" after the address is dropped.
      const target = text.slice(close + 2, i).trim().replace(/\s+(["'(]).*$/, "").replace(/^<(.*)>$/, "$1");
      return { label: text.slice(at + 1, close), href: target, end: i + 1 };
    }
  }
  return null;
}

/** The address a link may have, or null: http(s), mailto, or relative to this page. */
export function markdownHref(target) {
  if (!target) return null;
  try {
    // Parsed as the browser would follow it (which drops tabs and newlines inside the scheme).
    const url = new URL(target, location.href);
    return LINK_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function linkNode(label, target) {
  const href = markdownHref(target);
  const content = inline(label, true);
  if (!href) {
    return h("span", { class: "md-refused-link", title: "Not a link: only http(s), mailto and relative addresses are" }, content);
  }
  return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, content);
}

/** `**strong**`, `__strong__`, `*em*` or `_em_` at `at`; underscores only between words. */
function emphasisAt(text, at, unclosed) {
  const char = text[at];
  const double = text[at + 1] === char;
  const marker = double ? char + char : char;
  if (at >= (unclosed[marker] ?? Infinity)) return null;
  const after = text[at + marker.length];
  if (after === undefined || /\s/.test(after) || after === char) return null;
  const wordChar = /[\p{L}\p{N}]/u;
  if (char === "_" && at > 0 && wordChar.test(text[at - 1])) return null;
  let from = at + marker.length;
  while (from < text.length) {
    const close = text.indexOf(marker, from);
    if (close < 0) {
      unclosed[marker] = Math.min(at, unclosed[marker] ?? Infinity);
      return null;
    }
    const next = text[close + marker.length];
    const closes =
      !/\s/.test(text[close - 1]) &&
      text[close - 1] !== "\\" &&
      (double || next !== char) &&
      !(char === "_" && next !== undefined && wordChar.test(next));
    if (closes) return { strong: double, inner: text.slice(at + marker.length, close), end: close + marker.length };
    from = close + 1;
  }
  return null;
}
