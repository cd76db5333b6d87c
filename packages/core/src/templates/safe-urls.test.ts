import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSafeUrl, removeUnsafeLinks } from "./safe-urls.ts";

describe("links in messages", () => {
  it("lets web, mail, phone and relative links through and nothing else, however it is spelled", () => {
    for (const url of [
      "https://shop.example/p?a=1",
      "HTTP://shop.example",
      "mailto:ana@example.com",
      "tel:+15550100",
      "#top",
      "/products/1",
      "",
    ])
      assert.ok(isSafeUrl(url), url);
    for (const url of [
      "javascript:alert(1)",
      " JaVaScRiPt:alert(1)",
      "java\tscript:alert(1)",
      "\u0001javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:msgbox(1)",
      "file:///etc/passwd",
    ])
      assert.ok(!isSafeUrl(url), url);
  });

  it("removes unsafe hrefs, entity-encoded ones too, keeping the element and its text", () => {
    const html = [
      `<a href="javascript:alert(1)">A</a>`,
      `<a class="x" href='&#106;avascript:alert(2)'>B</a>`,
      `<a href=java&#x09;script&colon;alert(3)>C</a>`,
      `<a href="https://shop.example/?a=1&amp;b=2">D</a>`,
      `<a href="mailto:ana@example.com">E</a>`,
    ].join("\n");
    const out = removeUnsafeLinks(html);
    assert.equal(
      out.html,
      [
        `<a >A</a>`,
        `<a class="x" >B</a>`,
        `<a >C</a>`,
        `<a href="https://shop.example/?a=1&amp;b=2">D</a>`,
        `<a href="mailto:ana@example.com">E</a>`,
      ].join("\n"),
    );
    assert.deepEqual(out.removed, [
      "javascript:alert(1)",
      "javascript:alert(2)",
      "java\tscript:alert(3)",
    ]);
  });
});
