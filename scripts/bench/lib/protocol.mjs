// How a probe hands its result to run.mjs: one stdout line, this prefix, then JSON.
export const RESULT_MARK = '@@bench-result ';
