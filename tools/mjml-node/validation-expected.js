// Generates crates/facteur-template/tests/mjml-validation/expected.json: what node mjml's
// validator reports on each fixture there, for Facteur's parity test
// (crates/facteur-template/tests/mjml_validation.rs, which runs
// facteur_template::mjml_validate::validate on the same files).
//
// Usage (from the repository root):
//   node tools/mjml-node/validation-expected.js           writes the file
//   node tools/mjml-node/validation-expected.js --check   exits 1 when the file is not up to date
//
// Each fixture is compiled as render.js does (default options: keepComments, ignoreIncludes)
// with validationLevel "strict", which throws a ValidationError carrying every error before
// anything is rendered. The errors are kept as node gives them: line, tagName, message (node
// gives no column). A fixture without errors that node then fails to render (e.g. a root
// that is not <mjml>) is recorded with its error in "renderError", for information.
'use strict';

const fs = require('fs');
const path = require('path');

const mjml2html = require(path.join(__dirname, 'node_modules', 'mjml'));
const version = require(path.join(__dirname, 'node_modules', 'mjml', 'package.json')).version;

const DIR = path.join(__dirname, '..', '..', 'crates', 'facteur-template', 'tests', 'mjml-validation');
const OUTPUT = path.join(DIR, 'expected.json');
const COMMAND = 'node tools/mjml-node/validation-expected.js';

(async () => {
  const files = fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.mjml'))
    .sort();
  const expected = {
    generatedBy: `${COMMAND} (node mjml ${version})`,
    files: {},
  };
  for (const file of files) {
    const source = fs.readFileSync(path.join(DIR, file), 'utf8');
    const entry = { errors: [] };
    try {
      await mjml2html(source, { validationLevel: 'strict', filePath: path.join(DIR, file) });
    } catch (err) {
      if (err && Array.isArray(err.errors)) {
        entry.errors = err.errors.map((e) => ({ line: e.line, tagName: e.tagName, message: e.message }));
      } else {
        entry.renderError = String((err && err.message) || err);
      }
    }
    expected.files[file] = entry;
  }
  const text = `${JSON.stringify(expected, null, 2)}\n`;
  const rel = path.relative(process.cwd(), OUTPUT);
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(OUTPUT) ? fs.readFileSync(OUTPUT, 'utf8') : '';
    if (current !== text) {
      console.error(`${rel} is not up to date: run ${COMMAND}`);
      process.exit(1);
    }
    console.log(`${rel} is up to date (${files.length} fixtures, node mjml ${version})`);
  } else {
    fs.writeFileSync(OUTPUT, text);
    const count = Object.values(expected.files).reduce((n, e) => n + e.errors.length, 0);
    console.log(`wrote ${rel}: ${files.length} fixtures, ${count} errors, node mjml ${version}`);
  }
})();
