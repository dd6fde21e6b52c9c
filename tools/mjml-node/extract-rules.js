// Generates crates/facteur-template/src/mjml_rules.rs: the rules node mjml's validator checks,
// read from the node mjml installed here (the version pinned in package.json), as plain static
// Rust data for Facteur's own validator (crates/facteur-template/src/mjml_validate.rs).
//
// Usage (from the repository root):
//   node tools/mjml-node/extract-rules.js           writes the file
//   node tools/mjml-node/extract-rules.js --check   exits 1 when the file is not up to date
//
// What it reads:
//   - each registered component (mjml-core's `components`, after `require('mjml')` has added
//     mjml-preset-core): its tag name, `endingTag` (content is raw HTML, not parsed as MJML),
//     `allowedAttributes` with their type strings as declared ("unit(px,%){1,4}", "color", …);
//   - mjml-validator's `dependencies` (which children each parent accepts), in node's key order
//     (the order of the "only inside: …" lists). A RegExp entry is written `Child::Any` when it
//     matches every tag name (mj-attributes' /^.*^/); any other RegExp stops the generator, so
//     that a new kind of rule cannot be dropped silently;
//   - the validator's constants that are not exported (the attributes every element accepts,
//     the tags without a component, the elements it skips), from its source;
//   - the named colors the `color` type accepts.
// Every attribute type is checked against the type families mjml-core knows (boolean, enum,
// color, unit/unitWithNegative, string, integer): an unknown one stops the generator too.
//
// The output is formatted as rustfmt (max_width 100) leaves it: `cargo fmt --check` passes.
'use strict';

const fs = require('fs');
const path = require('path');

const modules = path.join(__dirname, 'node_modules');
const need = (name) => require(path.join(modules, name));

need('mjml'); // registers mjml-preset-core's components and dependencies
const core = need('mjml-core');
const validator = need('mjml-validator');
const version = need('mjml/package.json').version;
const colors = need('mjml-core/lib/types/helpers/colors.js');

const OUTPUT = path.join(__dirname, '..', '..', 'crates', 'facteur-template', 'src', 'mjml_rules.rs');
const COMMAND = 'node tools/mjml-node/extract-rules.js';

function fail(message) {
  console.error(`extract-rules: ${message}`);
  process.exit(1);
}

/** `const NAME = ['a', 'b'];` in one of mjml-validator's files. */
function validatorConstant(file, name) {
  const source = fs.readFileSync(path.join(modules, 'mjml-validator', 'lib', file), 'utf8');
  const m = new RegExp(`const ${name} = \\[([^\\]]*)\\];`).exec(source);
  if (!m) fail(`${name} not found in mjml-validator/lib/${file}`);
  return m[1].split(',').map((s) => {
    const item = /^\s*'([^'\\]*)'\s*$/.exec(s);
    if (!item) fail(`unexpected item ${s} in ${name}`);
    return item[1];
  });
}

/** Checks a type string the way mjml-core's initializeType picks a checker. */
function checkType(component, attribute, type) {
  const ok =
    /^boolean$/.test(type) ||
    /^string$/.test(type) ||
    /^integer$/.test(type) ||
    /^color$/.test(type) ||
    /^enum\([^)]+\)$/.test(type) ||
    /^(unit|unitWithNegative)\([^)]+\)(\{\d+(,\d+)?\})?$/.test(type);
  if (!ok) fail(`${component} ${attribute}: unsupported attribute type ${type}`);
}

const ANY_PATTERNS = ['^.*^', '^.*$', '^.*', '.*'];

// Components, in registration order.
const components = Object.entries(core.components).map(([tag, Component]) => {
  if (Component.componentName && Component.componentName !== tag) {
    fail(`component ${tag} has componentName ${Component.componentName}`);
  }
  const attributes = Object.entries(Component.allowedAttributes || {});
  for (const [name, type] of attributes) {
    if (typeof type !== 'string') fail(`${tag} ${name}: type is not a string`);
    checkType(tag, name, type);
  }
  return { tag, ending: !!Component.endingTag, attributes };
});

// Dependencies, in node's key order.
const dependencies = Object.entries(validator.dependencies).map(([parent, list]) => ({
  parent,
  children: list.map((dep) => {
    if (dep instanceof RegExp) {
      if (dep.flags.replace(/[gimsuy]/g, '') !== '' || !ANY_PATTERNS.includes(dep.source)) {
        fail(`${parent}: unsupported RegExp dependency ${dep}`);
      }
      return { any: true, source: String(dep) };
    }
    if (typeof dep !== 'string') fail(`${parent}: unsupported dependency ${dep}`);
    return { tag: dep };
  }),
}));

const globalAttributes = validatorConstant('rules/validAttributes.js', 'WHITELIST');
const componentless = validatorConstant('rules/validTag.js', 'componentLessTags');
const skipElements = validatorConstant('index.js', 'SKIP_ELEMENTS');
for (const c of colors) if (!/^[a-z]+$/.test(c)) fail(`unexpected color name ${c}`);

// ---- Rust output, formatted as rustfmt would (max_width 100, array_width 60) ----

const MAX_WIDTH = 100;
const ARRAY_WIDTH = 60;
const str = (s) => JSON.stringify(s); // the strings here are plain ASCII
const pad = (n) => ' '.repeat(n);

/**
 * An array expression `&[…]` after `prefix` at `indent`, followed by `suffix`: on one line when
 * rustfmt keeps it there, else one item a line.
 */
function array(indent, prefix, items, suffix) {
  const oneLine = `&[${items.join(', ')}]`;
  if (
    items.length === 0 ||
    (oneLine.length <= ARRAY_WIDTH && indent + prefix.length + oneLine.length + suffix.length <= MAX_WIDTH)
  ) {
    return [`${pad(indent)}${prefix}${oneLine}${suffix}`];
  }
  // A static's value that fits on a line of its own goes there.
  if (
    prefix.endsWith(' = ') &&
    oneLine.length <= ARRAY_WIDTH &&
    indent + 4 + oneLine.length + suffix.length <= MAX_WIDTH
  ) {
    return [`${pad(indent)}${prefix.trimEnd()}`, `${pad(indent + 4)}${oneLine}${suffix}`];
  }
  return [
    `${pad(indent)}${prefix}&[`,
    ...items.map((item) => `${pad(indent + 4)}${item},`),
    `${pad(indent)}]${suffix}`,
  ];
}

const out = [];
out.push(
  `// GENERATED from node mjml ${version} by \`${COMMAND}\`:`,
  '// do not edit, run it again.',
  '',
  `//! The rules node mjml ${version}'s validator checks, as data (see [\`crate::mjml_validate\`]):`,
  '//! the components with their attributes and types, which children each parent accepts, and',
  "//! the validator's own constants.",
  '',
  '/// The node mjml version these rules were read from.',
  `pub const MJML_VERSION: &str = ${str(version)};`,
  '',
  '/// A component registered in node mjml.',
  '#[derive(Debug, Clone, Copy, PartialEq, Eq)]',
  'pub struct Component {',
  '    /// Its tag name.',
  "    pub tag: &'static str,",
  '    /// An ending tag: its content is raw HTML, not parsed as MJML (comments and elements in it',
  '    /// are not checked).',
  '    pub ending_tag: bool,',
  '    /// Its allowed attributes, in declaration order, with their type as mjml declares it:',
  '    /// `boolean`, `string`, `integer`, `color`, `enum(a,b)`, `unit(px,%)` or',
  '    /// `unitWithNegative(px,em)`, optionally followed by a value count `{1,4}`. Empty when the',
  '    /// component declares none (every attribute but the global ones is then illegal).',
  "    pub attributes: &'static [(&'static str, &'static str)],",
  '}',
  '',
  '/// An entry of a parent\'s allowed children.',
  '#[derive(Debug, Clone, Copy, PartialEq, Eq)]',
  'pub enum Child {',
  '    /// This tag.',
  "    Tag(&'static str),",
  '    /// Any tag (node mjml writes it as a RegExp that matches every name).',
  '    Any,',
  '}',
  '',
  '/// Which children a parent accepts (mjml-validator\'s `dependencies`).',
  '#[derive(Debug, Clone, Copy, PartialEq, Eq)]',
  'pub struct Dependency {',
  "    pub parent: &'static str,",
  "    pub children: &'static [Child],",
  '}',
  '',
  '/// Attributes every component accepts besides its own.',
  ...array(0, 'pub static GLOBAL_ATTRIBUTES: &[&str] = ', globalAttributes.map(str), ';'),
  '',
  '/// Tags that have no component but are not unknown elements either.',
  ...array(0, 'pub static COMPONENTLESS_TAGS: &[&str] = ', componentless.map(str), ';'),
  '',
  '/// Elements the validator does not check (their children are checked).',
  ...array(0, 'pub static SKIP_ELEMENTS: &[&str] = ', skipElements.map(str), ';'),
  '',
  '/// The color names the `color` type accepts (as written: lowercase only).',
  ...array(0, 'pub static NAMED_COLORS: &[&str] = ', colors.map(str), ';'),
  '',
  '/// Every component, in node mjml\'s registration order.',
  'pub static COMPONENTS: &[Component] = &[',
);
for (const c of components) {
  out.push('    Component {', `        tag: ${str(c.tag)},`, `        ending_tag: ${c.ending},`);
  out.push(...array(8, 'attributes: ', c.attributes.map(([n, t]) => `(${str(n)}, ${str(t)})`), ','));
  out.push('    },');
}
out.push('];', '');
out.push(
  '/// Allowed children per parent, in node\'s key order (the order of its "only inside" lists).',
  'pub static DEPENDENCIES: &[Dependency] = &[',
);
for (const d of dependencies) {
  const items = d.children.map((c) => (c.any ? 'Child::Any' : `Child::Tag(${str(c.tag)})`));
  const notes = d.children.filter((c) => c.any).map((c) => `        // ${c.source} in node mjml`);
  out.push('    Dependency {', `        parent: ${str(d.parent)},`);
  if (notes.length) {
    out.push(...notes);
  }
  out.push(...array(8, 'children: ', items, ','));
  out.push('    },');
}
out.push('];', '');
out.push(
  '/// The component registered for this tag.',
  "pub fn component(tag: &str) -> Option<&'static Component> {",
  '    let index = match tag {',
  ...components.map((c, i) => `        ${str(c.tag)} => ${i},`),
  '        _ => return None,',
  '    };',
  '    Some(&COMPONENTS[index])',
  '}',
  '',
  '/// The children this parent accepts, when it has an entry.',
  "pub fn dependencies(parent: &str) -> Option<&'static [Child]> {",
  '    DEPENDENCIES',
  '        .iter()',
  '        .find(|d| d.parent == parent)',
  '        .map(|d| d.children)',
  '}',
);
const text = `${out.join('\n')}\n`;

if (process.argv.includes('--check')) {
  const current = fs.existsSync(OUTPUT) ? fs.readFileSync(OUTPUT, 'utf8') : '';
  if (current !== text) {
    console.error(`${path.relative(process.cwd(), OUTPUT)} is not up to date: run ${COMMAND}`);
    process.exit(1);
  }
  console.log(`${path.relative(process.cwd(), OUTPUT)} is up to date (node mjml ${version})`);
} else {
  fs.writeFileSync(OUTPUT, text);
  console.log(
    `wrote ${path.relative(process.cwd(), OUTPUT)}: ${components.length} components, ` +
      `${dependencies.length} dependency entries, node mjml ${version}`,
  );
}
