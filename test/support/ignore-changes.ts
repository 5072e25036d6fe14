/**
 * What the Pulumi engine sends a provider on update, given a resource's last recorded inputs
 * ("olds"), the program's new inputs and the resource's ignoreChanges. Mirrors
 * pulumi/pulumi pkg/resource/deploy/step_generator.go `processIgnoreChanges`: for each path, the
 * old value replaces the new one (old present), or the new one is deleted (old absent). The
 * provider then diffs olds against the result; for an ALB listener or rule any difference inside
 * the action list makes it send the whole list (pulumi-aws#5798), so the "sent actions" are the
 * result's full list whenever it differs from the olds' list.
 *
 * Paths: `a.b`, `a[0].b`, `tags["k"]` (the forms the components use).
 */
type Json = unknown;

export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\["([^"]*)"\]|\./gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < path.length && (m = re.exec(path))) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(m[3]);
    pos = re.lastIndex;
  }
  if (pos !== path.length) throw new Error(`cannot parse property path ${path}`);
  return out;
}

function get(root: Json, path: (string | number)[]): { has: boolean; value?: Json } {
  let cur: Json = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object" || !(key in (cur as object))) return { has: false };
    cur = (cur as Record<string | number, Json>)[key];
  }
  return { has: true, value: cur };
}

function set(root: Json, path: (string | number)[], value: Json): boolean {
  let cur: Json = root;
  for (const key of path.slice(0, -1)) {
    if (cur === null || typeof cur !== "object" || !(key in (cur as object))) return false;
    cur = (cur as Record<string | number, Json>)[key];
  }
  if (cur === null || typeof cur !== "object") return false;
  (cur as Record<string | number, Json>)[path[path.length - 1]!] = structuredClone(value);
  return true;
}

function remove(root: Json, path: (string | number)[]): boolean {
  const parent = get(root, path.slice(0, -1));
  if (!parent.has || parent.value === null || typeof parent.value !== "object") return false;
  delete (parent.value as Record<string | number, Json>)[path[path.length - 1]!];
  return true;
}

/** The inputs the engine diffs and sends after applying ignoreChanges. */
export function applyIgnoreChanges(news: Record<string, Json>, olds: Record<string, Json>, ignoreChanges: string[]): Record<string, Json> {
  const result = structuredClone(news);
  for (const p of ignoreChanges) {
    const path = parsePath(p);
    const old = get(olds, path);
    const now = get(news, path);
    const ok = old.has ? set(result, path, old.value) : now.has ? remove(result, path) : true;
    if (!ok) throw new Error(`cannot ignore changes to ${p}: one or more elements of the path are missing`);
  }
  return result;
}

export function sameJson(a: Json, b: Json): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: Json): Json {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, canonical((v as Record<string, Json>)[k])]));
  return v;
}

/**
 * The action list the provider would send on update, or undefined when the action list is
 * unchanged (nothing to apply). `field` is "actions" (rule) or "defaultActions" (listener).
 */
export function actionsSentOnUpdate(news: Record<string, Json>, olds: Record<string, Json>, ignoreChanges: string[], field: "actions" | "defaultActions"): Json[] | undefined {
  const effective = applyIgnoreChanges(news, olds, ignoreChanges);
  if (sameJson(effective[field], olds[field])) return undefined;
  return effective[field] as Json[];
}
