// Checks a room's published draw in the browser, as anyone can: the seed's SHA-256 must be the
// commitment published before the sale, and the entries must be in the order of
// SHA-256(seed + ":" + entry_id).

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (text) => hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));

/** Answers {commitmentOK, orderOK, checked}: the order is checked over the first `limit` entries. */
export async function verifyDraw(draw, limit = 20000) {
  const commitmentOK = (await sha256(draw.seed)) === draw.commitment;
  const entries = draw.entries.slice(0, limit);
  const keys = await Promise.all(entries.map((id) => sha256(`${draw.seed}:${id}`)));
  let orderOK = true;
  for (let i = 1; i < keys.length; i++) if (keys[i - 1] > keys[i]) orderOK = false;
  return { commitmentOK, orderOK, checked: entries.length };
}
