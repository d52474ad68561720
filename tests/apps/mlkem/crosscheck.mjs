// moat's ML-KEM-768 against @noble/post-quantum, an independent
// implementation, on random keys in both directions (46-mlkem-noble.sh).
// usage: node crosscheck.mjs MLKEM_TOOL [N]
// MLKEM_TOOL is build/tests/mlkem_tool: commands on stdin, answers on stdout.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';

const [tool, nArg] = process.argv.slice(2);
const N = Number(nArg || 50);
let failed = 0;
const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));
const eq = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
function result(cond, name, why) {
  console.log(`${cond ? 'ok' : 'not ok'} - mlkem noble: ${name}${!cond && why ? ' # ' + why : ''}`);
  if (!cond) failed++;
}

// One run of the tool: each command a line, each answer a line of
// "label hex label hex ..." (or "error N"), as objects.
function moat(commands) {
  const r = spawnSync(tool, [], { input: commands.join('\n') + '\n', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${tool} exited ${r.status}: ${r.stderr}`);
  return r.stdout.toString().trimEnd().split('\n').map((line) => {
    const w = line.split(' '), o = {};
    for (let i = 0; i + 1 < w.length; i += 2) o[w[i]] = w[i + 1];
    return o;
  });
}

// noble keygen -> moat encaps -> noble decaps.
{
  const keys = Array.from({ length: N }, () => ml_kem768.keygen());
  const out = moat(keys.map((k) => `encaps ${hex(k.publicKey)}`));
  let agree = 0;
  out.forEach((o, i) => {
    if (o.ct && eq(ml_kem768.decapsulate(bytes(o.ct), keys[i].secretKey), bytes(o.k))) agree++;
  });
  result(agree === N, `noble keygen, moat encaps, noble decaps: ${agree} of ${N} secrets equal`);
}

// moat keygen -> noble encaps -> moat decaps; and a changed ciphertext
// gives both the same implicit-rejection secret.
{
  const keys = moat(Array.from({ length: N }, () => 'keygen'));
  const enc = keys.map((k) => ml_kem768.encapsulate(bytes(k.ek)));
  const bad = enc.map((e) => {
    const c = new Uint8Array(e.cipherText);
    c[randomBytes(2).readUInt16LE() % c.length] ^= 1 << randomBytes(1)[0] % 8;
    return c;
  });
  const cmds = [];
  keys.forEach((k, i) => cmds.push(`decaps ${k.dk} ${hex(enc[i].cipherText)}`, `decaps ${k.dk} ${hex(bad[i])}`));
  const out = moat(cmds);
  let agree = 0, rejects = 0;
  keys.forEach((k, i) => {
    if (out[2 * i].k && eq(bytes(out[2 * i].k), enc[i].sharedSecret)) agree++;
    const nk = ml_kem768.decapsulate(bad[i], bytes(k.dk));
    if (out[2 * i + 1].k && eq(bytes(out[2 * i + 1].k), nk) && !eq(nk, enc[i].sharedSecret)) rejects++;
  });
  result(agree === N, `moat keygen, noble encaps, moat decaps: ${agree} of ${N} secrets equal`);
  result(rejects === N, `a changed ciphertext: moat and noble give the same rejection secret, ${rejects} of ${N}`);
}

// A noble key with one coefficient raised to q: both refuse it (FIPS 203 7.2).
{
  const pk = new Uint8Array(ml_kem768.keygen().publicKey);
  pk[0] = 3329 & 0xff;
  pk[1] = (pk[1] & 0xf0) | (3329 >> 8);
  let nobleRefuses = false;
  try { ml_kem768.encapsulate(pk); } catch { nobleRefuses = true; }
  const [o] = moat([`encaps ${hex(pk)}`]);
  result(nobleRefuses && o.error !== undefined, `a key with a coefficient q: noble ${nobleRefuses ? 'refuses' : 'takes'} it, moat ${o.error !== undefined ? 'refuses (error ' + o.error + ')' : 'takes'} it`);
}
process.exit(failed ? 1 : 0);
