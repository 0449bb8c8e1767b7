/** The one function of js-yaml 3 the workflow tests use (the package ships no types). */
declare module 'js-yaml' {
  /** Parses one YAML document. */
  export function load(text: string): unknown;
}
