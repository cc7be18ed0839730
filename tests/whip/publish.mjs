// Publishes synthetic media from Node to a session URL for a few seconds:
//   node publish.mjs URL TOKEN SECONDS
// Prints `ok` or `error CODE NAME: message`; tests/whip/test_whip_bindings.py checks what the
// receiver decoded.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { initPublisher, initSession } = require('../../bindings-node');
const [url, token, seconds] = process.argv.slice(2);

const publisher = await initPublisher({ videoSource: 'synthetic', audioSource: 'synthetic', resolution: '640x480' });
const session = initSession(url);
try {
  await session.connect(token);
  await session.publish(publisher);
  await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
  await session.unpublish(publisher);
  console.log('ok');
} catch (err) {
  console.log(`error ${err.code} ${err.name}: ${err.message}`);
  process.exitCode = 1;
} finally {
  session.close();
  publisher.close();
}
