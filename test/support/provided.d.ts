// Values the integration global setup hands to every test file.
declare module 'vitest' {
  export interface ProvidedContext {
    clickhouseUrl: string;
    kafkaBrokers: string;
  }
}

export {};
