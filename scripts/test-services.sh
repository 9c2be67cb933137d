# Sourced by `make test`: start the services tests need and export where they are.
# PostgreSQL: start cluster 15/main if it is installed and we may start it, then export
# SWEN_TEST_PG_URL (tests create and drop a throwaway database per run through it).
if [ -z "${SWEN_TEST_PG_URL:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    pg_ctlcluster 15 main start 2>/dev/null || true
    for _ in $(seq 1 30); do
      su postgres -c "pg_isready -q" 2>/dev/null && break
      sleep 0.5
    done
    su postgres -c "psql -qtAc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='swen') THEN CREATE ROLE swen LOGIN SUPERUSER PASSWORD 'swen'; END IF; END\\\$\\\$;\"" >/dev/null 2>&1 \
      && export SWEN_TEST_PG_URL="postgresql://swen:swen@127.0.0.1:5432/postgres"
  fi
fi
if [ -n "${SWEN_TEST_PG_URL:-}" ]; then
  echo "test services: PostgreSQL at ${SWEN_TEST_PG_URL%%@*}@... "
else
  echo "test services: no PostgreSQL; PostgreSQL tests will be skipped (CI requires them)"
fi
