// Untrusted text → DOM. Every prompt, response and guideline is model or user text: it only ever
// reaches the page through textContent / text nodes, never innerHTML, so markup in it stays literal.

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/;

// Split text into prose and ``` fenced code blocks (CommonMark's fence rule, simplified:
// a fence closes on a line of the same character, at least as long; an unclosed fence runs to the end).
export function splitFences(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let prose = [];
  let i = 0;
  while (i < lines.length) {
    const open = FENCE_OPEN.exec(lines[i]);
    if (!open) {
      prose.push(lines[i]);
      i += 1;
      continue;
    }
    const fence = open[1];
    const close = new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`);
    const code = [];
    i += 1;
    while (i < lines.length && !close.test(lines[i])) {
      code.push(lines[i]);
      i += 1;
    }
    i += 1; // past the closing fence (or the end)
    if (prose.length) blocks.push({ type: "prose", text: prose.join("\n") });
    prose = [];
    blocks.push({ type: "code", lang: open[2] || "", text: code.join("\n") });
  }
  if (prose.length) blocks.push({ type: "prose", text: prose.join("\n") });
  return blocks.filter((block) => block.type === "code" || block.text.trim() !== "");
}

function appendInlineCode(parent, text) {
  const inline = /`([^`\n]+)`/g;
  let last = 0;
  for (const match of text.matchAll(inline)) {
    parent.append(document.createTextNode(text.slice(last, match.index)));
    const code = document.createElement("code");
    code.textContent = match[1];
    parent.append(code);
    last = match.index + match[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

// Replace the container's content with the text: whitespace kept, fenced code in monospace.
export function renderText(container, text) {
  container.replaceChildren();
  const source = typeof text === "string" ? text : "";
  if (source.trim() === "") {
    const empty = document.createElement("p");
    empty.className = "empty-text";
    empty.textContent = "(empty)";
    container.append(empty);
    return;
  }
  for (const block of splitFences(source)) {
    if (block.type === "code") {
      const figure = document.createElement("div");
      figure.className = "code-block";
      if (block.lang) {
        const label = document.createElement("span");
        label.className = "code-lang";
        label.textContent = block.lang;
        figure.append(label);
      }
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = block.text;
      pre.append(code);
      figure.append(pre);
      container.append(figure);
    } else {
      const prose = document.createElement("div");
      prose.className = "prose";
      appendInlineCode(prose, block.text.replace(/^\n+|\n+$/g, ""));
      container.append(prose);
    }
  }
}
