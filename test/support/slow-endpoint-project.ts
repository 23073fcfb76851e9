/** A project whose one endpoint takes about 0.8 s in ClickHouse: a request stays in flight for a stop to meet. */
export const SLOW_ENDPOINT_FILES: Record<string, string> = {
  'datasources/ticks.datasource.yaml':
    'columns:\n  - { name: id, type: UInt32 }\nengine: { sorting_key: [id] }\n',
  // sleep() runs in ClickHouse: the request is in flight for about 0.8 s.
  'pipes/slow.pipe.yaml':
    'nodes:\n  - name: s\n    sql: SELECT sleep(0.8) AS slept, count() AS n FROM ticks\n',
  'endpoints/slow.endpoint.yaml': 'pipe: slow\n',
};
