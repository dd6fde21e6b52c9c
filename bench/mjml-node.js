// MJML → HTML per second with the official node mjml, on the files named on the command line
// (VALIDATION=skip|soft|strict: node's validationLevel, skip by default).
// Prints one line per file: SLUG DOCS_PER_SECOND HTML_BYTES.
const fs = require('fs');
const path = require('path');
const mjml2html = require('mjml');
const iterations = parseInt(process.env.ITERATIONS || '200', 10);
(async () => {
  for (const file of process.argv.slice(2)) {
    const src = fs.readFileSync(file, 'utf8');
    const render = async () => { const r = await mjml2html(src, { validationLevel: process.env.VALIDATION || 'skip' }); return r.html; };
    const html = await render();
    for (let i = 0; i < 5; i++) await render();
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await render();
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`${path.basename(file, '.mjml')} ${(iterations / secs).toFixed(0)} ${html.length}`);
  }
})();
