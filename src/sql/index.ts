/** SQL: param typing and escaping, template rendering, node chaining. */
export type { ParamValue } from './coerce-value.ts';
export {
  type CompilableProject,
  type CompiledQuery,
  type CompileOptions,
  compileNodeForCheck,
  compileNodesForCheck,
  compilePipe,
  DEFAULT_MAX_QUERY_SIZE,
  sampleParams,
} from './compile-pipe.ts';
export { isParamError, ParamError } from './param-error.ts';
export { MAX_DATE, MAX_EPOCH, MIN_DATE, type ParamType, paramType, typeSql } from './param-type.ts';
export {
  expectedOf,
  isResolvedParams,
  MAX_ARRAY_ITEMS,
  MAX_STRING_BYTES,
  parseParamValue,
  type ResolvedParams,
  resolveParams,
} from './parse-param-value.ts';
export { type LiteralOptions, quoteString, renderLiteral } from './render-literal.ts';
export {
  type RenderedTemplate,
  type RenderTemplateOptions,
  renderTemplate,
  type ValueMode,
} from './render-template.ts';
