// Renders MJML files with the official node mjml (the version pinned in package.json).
// This is the reference Facteur's MJML compiler (mrml) is compared with: the tests'
// expected outputs (crates/facteur-template/tests/newsletters/*.node.html),
// docs/mjml-fidelity.md and the benchmarks.
//
// Usage:
//   node tools/mjml-node/render.js [--validation=strict|soft|skip] [--keep-comments=true|false]
//                                  [--out=DIR] FILE.mjml...
//
// For each FILE it writes the HTML to DIR/<stem>.node.html (next to FILE without --out) and
// prints one JSON line to stdout: {"file": "<stem>", "errors": [{line, tagName, message}], "bytes": N}.
// A file that throws (with --validation=strict: any validation error) is reported on stderr,
// still gets its JSON line when the error carries validation errors, and makes the exit code 1;
// the other files are still rendered.
'use strict';
const fs = require('fs');
const path = require('path');
const mjml2html = require('mjml');

function usage(message) {
  if (message) console.error(message);
  console.error('usage: node render.js [--validation=strict|soft|skip] [--keep-comments=true|false] [--out=DIR] FILE.mjml...');
  process.exit(2);
}

const options = { validation: 'soft', keepComments: true, out: null };
const files = [];
for (const arg of process.argv.slice(2)) {
  const m = /^--([a-z-]+)=(.*)$/.exec(arg);
  if (!m) {
    if (arg.startsWith('--')) usage(`unknown option: ${arg}`);
    files.push(arg);
  } else if (m[1] === 'validation' && ['strict', 'soft', 'skip'].includes(m[2])) {
    options.validation = m[2];
  } else if (m[1] === 'keep-comments' && ['true', 'false'].includes(m[2])) {
    options.keepComments = m[2] === 'true';
  } else if (m[1] === 'out' && m[2] !== '') {
    options.out = m[2];
  } else {
    usage(`bad option: ${arg}`);
  }
}
if (files.length === 0) usage('no input file');

const errorsOf = (list) =>
  (list || []).map((e) => ({ line: e.line, tagName: e.tagName, message: e.message }));

(async () => {
  let failed = false;
  if (options.out) fs.mkdirSync(options.out, { recursive: true });
  for (const file of files) {
    const stem = path.basename(file, '.mjml');
    try {
      const source = fs.readFileSync(file, 'utf8');
      const result = await mjml2html(source, {
        validationLevel: options.validation,
        keepComments: options.keepComments,
        filePath: file,
      });
      const target = path.join(options.out || path.dirname(file), `${stem}.node.html`);
      fs.writeFileSync(target, result.html);
      const bytes = Buffer.byteLength(result.html, 'utf8');
      console.log(JSON.stringify({ file: stem, errors: errorsOf(result.errors), bytes }));
    } catch (err) {
      failed = true;
      console.error(`${file}: ${(err && err.message) || err}`);
      if (err && Array.isArray(err.errors)) {
        console.log(JSON.stringify({ file: stem, errors: errorsOf(err.errors), bytes: 0 }));
      }
    }
  }
  process.exit(failed ? 1 : 0);
})();
