/**
 * Reading back what the stack writes as Terraform expressions. Policies, the deployed settings and the client's
 * policy statements are synthesized as `${jsonencode({...})}`, an HCL object expression whose strings may hold
 * `${...}` references; tests read them as the JSON text that expression encodes, references left in place.
 */

const JSONENCODE = /^\$\{jsonencode\(([\s\S]*)\)\}$/;

/** The JSON text a synthesized `${jsonencode(...)}` encodes (keys in written order); other strings unchanged. */
export function decodeJsonencode(value: string): string {
  const m = JSONENCODE.exec(value);
  return m ? hclValueToJson(m[1]) : value;
}

/**
 * An HCL object/tuple/literal expression as cdktf writes it (quoted keys, ` = `, `$${` for a literal `${`, a value
 * that is only a reference written bare) as JSON text. Strings are copied with their references, a bare reference
 * becomes the string `"${reference}"`, and `=` outside strings becomes `:`.
 */
export function hclValueToJson(expr: string): string {
  let out = '';
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (c === '"') {
      const end = stringEnd(expr, i);
      out += expr
        .slice(i, end + 1)
        .replace(/\$\$\{/g, '${')
        .replace(/%%\{/g, '%{');
      i = end + 1;
    } else if (c === '=') {
      out += ':';
      i += 1;
    } else if (/[A-Za-z_]/.test(c)) {
      // A bare reference (a value that is a reference and nothing else): read as the string "${reference}".
      const word = /^[A-Za-z_][\w.*-]*/.exec(expr.slice(i))?.[0] as string;
      out += ['true', 'false', 'null'].includes(word) ? word : JSON.stringify(`\${${word}}`);
      i += word.length;
    } else {
      out += c;
      i += 1;
    }
  }
  JSON.parse(out); // fails loudly on anything this reader does not understand
  return out;
}

/** Index of the quote closing the string opened at `start`; `${...}` references inside are skipped whole. */
function stringEnd(expr: string, start: number): number {
  let i = start + 1;
  while (i < expr.length) {
    const c = expr[i];
    if (c === '\\') i += 2;
    else if (c === '$' && expr[i + 1] === '{') i = referenceEnd(expr, i + 2) + 1;
    else if (c === '"') return i;
    else i += 1;
  }
  throw new Error(`unterminated string in ${expr.slice(start, start + 80)}`);
}

function referenceEnd(expr: string, from: number): number {
  let depth = 1;
  for (let i = from; i < expr.length; i++) {
    if (expr[i] === '{') depth += 1;
    else if (expr[i] === '}' && --depth === 0) return i;
  }
  throw new Error(`unterminated reference in ${expr.slice(from - 2, from + 80)}`);
}

/** A copy of a synthesized tree with every `${jsonencode(...)}` string replaced by the JSON text it encodes. */
export function decodeJsonencoded<T>(tree: T): T {
  if (typeof tree === 'string') return decodeJsonencode(tree) as T;
  if (Array.isArray(tree)) return tree.map((v) => decodeJsonencoded(v)) as T;
  if (tree !== null && typeof tree === 'object')
    return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, decodeJsonencoded(v)])) as T;
  return tree;
}
