// Conformance driver for the Node binding:
//   node driver_node.mjs path/to/scenarios.json
// Runs every init_publisher scenario and prints one JSON object (the shape every language's
// driver prints) to stdout.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const lp = require('../../bindings-node');

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node driver_node.mjs path/to/scenarios.json\n');
  process.exit(2);
}
const scenarios = JSON.parse(readFileSync(file, 'utf8'));

const byCode = (a, b) => a.code - b.code;
const table = (object) => Object.entries(object).map(([name, code]) => ({ code, name })).sort(byCode);

async function runInitPublisher(scenario) {
  const options = { ...scenario.options };
  if (scenario.consent === 'allow' || scenario.consent === 'deny') {
    const allow = scenario.consent === 'allow';
    options.accessRequest = () => allow;
  }
  const events = [];
  let completed = false;
  const pending = lp.initPublisher(options);
  const { publisher } = pending;
  if (publisher) {
    for (const name of lp.publisherEvents) {
      publisher.on(name, () => {
        if (!completed) events.push(name);
      });
    }
  }
  let outcome;
  try {
    await pending;
    outcome = { code: lp.ErrorCode.OK, name: 'OK', message: '' };
  } catch (e) {
    if (!(e instanceof lp.Error)) throw e;
    outcome = { code: e.code, name: e.name, message: e.message };
  } finally {
    completed = true;
    if (publisher) publisher.close();
  }
  return { scenario: scenario.name, ...outcome, events };
}

const results = [];
for (const scenario of scenarios.init_publisher ?? []) {
  results.push(await runInitPublisher(scenario));
}

process.stdout.write(
  `${JSON.stringify({
    language: 'node',
    version: lp.version,
    errors: table(lp.ErrorCode),
    reasons: table(lp.Reason),
    results,
  })}\n`,
);
