import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { liquidFingerprint, prepareMjmlLiquid } from "./mjml-liquid.ts";
import { expandPartials } from "./partials.ts";
import { smsStats } from "./sms-segments.ts";

describe("Liquid inside MJML", () => {
  it("refuses a loop that opens in one mj-section and closes in another, with both lines", () => {
    const mjml = [
      "<mjml><mj-body>",
      "  <mj-section><mj-column>",
      "    {% for item in items %}",
      "    <mj-text>{{ item.name }}</mj-text>",
      "  </mj-column></mj-section>",
      "  <mj-section><mj-column>",
      "    {% endfor %}",
      "  </mj-column></mj-section>",
      "</mj-body></mjml>",
    ].join("\n");
    const { problems } = prepareMjmlLiquid(mjml);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]?.line, 7);
    assert.match(
      problems[0]?.message ?? "",
      /opens at line 3 inside <mj-column> \(line 2\)/,
    );
    assert.match(problems[0]?.message ?? "", /<mj-column> \(line 6\)/);
  });

  it("refuses an else branch that lands in another element", () => {
    const mjml =
      "<mjml><mj-body><mj-section><mj-column>{% if vip %}<mj-text>a</mj-text></mj-column>" +
      "<mj-column>{% else %}<mj-text>b</mj-text>{% endif %}</mj-column></mj-section></mj-body></mjml>";
    const { problems } = prepareMjmlLiquid(mjml);
    assert.ok(
      problems.some((p) => /\{% else %\}/.test(p.message)),
      JSON.stringify(problems),
    );
  });

  it("wraps loops around whole sections in mj-raw, keeping lines, and leaves text content alone", () => {
    const mjml = [
      "<mjml><mj-body>",
      "{% for item in items %}",
      '<mj-section css-class="{% if item.sale %}sale{% endif %}"><mj-column>',
      "<mj-text>{% if item.name %}{{ item.name }}{% endif %}</mj-text>",
      "</mj-column></mj-section>",
      "{% endfor %}",
      "</mj-body></mjml>",
    ].join("\n");
    const { mjml: out, problems } = prepareMjmlLiquid(mjml);
    assert.deepEqual(problems, []);
    assert.equal(out.split("\n").length, mjml.split("\n").length);
    assert.match(out, /<mj-raw>\{% for item in items %\}<\/mj-raw>/);
    assert.match(out, /<mj-raw>\{% endfor %\}<\/mj-raw>/);
    assert.match(
      out,
      /<mj-text>\{% if item.name %\}\{\{ item.name \}\}\{% endif %\}<\/mj-text>/,
    );
    assert.deepEqual(liquidFingerprint(out), liquidFingerprint(mjml));
  });

  it("refuses Liquid between attributes, mj-include, unbalanced elements and unclosed blocks", () => {
    const cases: [string, RegExp][] = [
      [
        '<mjml><mj-body><mj-section {% if x %}padding="0"{% endif %}></mj-section></mj-body></mjml>',
        /attribute value/,
      ],
      [
        '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>',
        /mj-include/,
      ],
      [
        "<mjml><mj-body><mj-section></mj-column></mj-body></mjml>",
        /closes <mj-section>/,
      ],
      ["<mjml><mj-body>{% if x %}</mj-body></mjml>", /never closed/],
      ["{{ x }}<mjml><mj-body></mj-body></mjml>", /outside <mjml>/],
    ];
    for (const [mjml, reason] of cases) {
      const { problems } = prepareMjmlLiquid(mjml);
      assert.ok(
        problems.some((p) => reason.test(p.message)),
        `${mjml}: ${JSON.stringify(problems)}`,
      );
    }
  });
});

describe("partials", () => {
  it("expands includes with parameters and maps lines back to the template and the partial", () => {
    const partials = new Map([
      ["card", "<b>\n{{ product.name }}\n</b>"],
      ["loop", '{% include "loop" %}'],
    ]);
    const text =
      'a\n{% include "card", product: item %}\nb\n{% include "nope" %}';
    const out = expandPartials(text, partials);
    assert.match(
      out.text,
      /\{% assign product = item %\}<b>\n\{\{ product.name \}\}\n<\/b>\nb/,
    );
    assert.deepEqual(out.origins[2], { partial: "card", line: 2 });
    assert.deepEqual(out.origins[4], { line: 3 });
    assert.equal(out.problems.length, 1);
    assert.equal(out.problems[0]?.line, 4);
    assert.match(out.problems[0]?.message ?? "", /no partial named "nope"/);
    const cycle = expandPartials('{% include "loop" %}', partials);
    assert.match(cycle.problems[0]?.message ?? "", /includes itself/);
  });

  it("refuses a fan-out of partials by its size before expanding any of it, naming the chain", () => {
    // Ten copies of the next partial at each of five levels: 10^10 characters expanded.
    const partials = new Map([
      ["a", '{% include "b" %}'.repeat(10)],
      ["b", '{% include "c" %}'.repeat(10)],
      ["c", '{% include "d" %}'.repeat(10)],
      ["d", '{% include "e" %}'.repeat(10)],
      ["e", "y".repeat(1_000_000)],
    ]);
    const started = performance.now();
    const out = expandPartials('intro\n{% include "a" %}', partials);
    assert.ok(performance.now() - started < 1_000);
    assert.equal(out.text, 'intro\n{% include "a" %}');
    assert.deepEqual(out.problems, [
      {
        line: 2,
        message:
          'with its partials expanded this would be 10,000,188,893 characters, more than the 1,000,000 allowed ("a" ×1 → "b" ×10 → "c" ×10 → "d" ×10 → "e" ×10); include fewer copies or make those partials smaller',
      },
    ]);
    const small = expandPartials(
      '{% include "d" %}',
      new Map([...partials, ["e", "y"]]),
    );
    assert.equal(small.text, "y".repeat(10));
    assert.deepEqual(small.problems, []);
  });
});

describe("SMS length", () => {
  it("counts GSM-7 septets, extension characters twice, and switches to UCS-2 for anything else", () => {
    assert.deepEqual(
      { ...smsStats("a".repeat(160)), unicodeCharacters: [] },
      {
        encoding: "GSM-7",
        length: 160,
        segments: 1,
        remaining: 0,
        unicodeCharacters: [],
      },
    );
    assert.equal(smsStats("a".repeat(161)).segments, 2);
    assert.equal(smsStats("€".repeat(80)).length, 160);
    const emoji = smsStats("Sale 🎉");
    assert.equal(emoji.encoding, "UCS-2");
    assert.equal(emoji.length, 7);
    assert.deepEqual(emoji.unicodeCharacters, ["🎉"]);
    assert.equal(smsStats("ж".repeat(71)).segments, 2);
  });
});
