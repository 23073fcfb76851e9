/** Where a natively started ClickHouse keeps everything, under `<project>/.tally/clickhouse/`. */
export interface ClickHousePaths {
  dir: string;
  config: string;
  users: string;
  data: string;
  tmp: string;
  userFiles: string;
  formatSchemas: string;
  log: string;
  errorLog: string;
  /** stdout and stderr of the server process (crashes before its logger starts). */
  out: string;
  pidFile: string;
  dockerMarker: string;
}

export function clickhousePaths(dir: string): ClickHousePaths {
  return {
    dir,
    config: `${dir}/config.xml`,
    users: `${dir}/users.xml`,
    data: `${dir}/data/`,
    tmp: `${dir}/tmp/`,
    userFiles: `${dir}/user_files/`,
    formatSchemas: `${dir}/format_schemas/`,
    log: `${dir}/log/clickhouse-server.log`,
    errorLog: `${dir}/log/clickhouse-server.err.log`,
    out: `${dir}/clickhouse-server.out`,
    pidFile: `${dir}/clickhouse-server.pid`,
    dockerMarker: `${dir}/docker.json`,
  };
}

/**
 * A server config for a single local server: loopback only, data under the project, UTC, caches
 * sized for a laptop. `<yandex>` is the root element 18.16 needs; current releases accept it too.
 */
export function renderClickHouseConfig(
  p: ClickHousePaths,
  ports: { http: number; tcp: number; interserver?: number },
  /** More top-level elements (a cluster node's remote_servers, zookeeper, macros). */
  extra = '',
): string {
  return `<?xml version="1.0"?>
<!-- Written by \`tally services up\`; regenerated on every start. -->
<yandex>
    <logger>
        <level>information</level>
        <log>${xml(p.log)}</log>
        <errorlog>${xml(p.errorLog)}</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <http_port>${ports.http}</http_port>
    <tcp_port>${ports.tcp}</tcp_port>${
      // Only when asked (a second server beside another): the shared one's config stays as it was.
      ports.interserver === undefined
        ? ''
        : `\n    <interserver_http_port>${ports.interserver}</interserver_http_port>`
    }
    <listen_host>127.0.0.1</listen_host>
    <max_connections>4096</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>200</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>1073741824</mark_cache_size>
    <path>${xml(p.data)}</path>
    <tmp_path>${xml(p.tmp)}</tmp_path>
    <user_files_path>${xml(p.userFiles)}</user_files_path>
    <format_schema_path>${xml(p.formatSchemas)}</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
${extra}</yandex>
`;
}

/** The `default` user with no password, reachable from loopback only (and `extraUsers`, for tests). */
export function renderClickHouseUsers(extraUsers = ''): string {
  return `<?xml version="1.0"?>
<!-- Written by \`tally services up\`; regenerated on every start. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::1</ip>
                <ip>127.0.0.1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
${extraUsers}    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`;
}

export function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
