#!/usr/bin/env bash
# customers.sh TENANTS_DIR [github|azure]: the CI matrix of the MSP layout, one entry per
# customer env file TENANTS_DIR/NAME.env, printed as JSON on stdout.
#
#   github (default): [{"customer":"contoso","tenant":"<tenant id>"}, ...]
#                     for strategy.matrix.include: ${{ fromJSON(...) }}
#   azure:            {"contoso":{"customer":"contoso","customerTenant":"<tenant id>"}, ...}
#                     for strategy.matrix: $[ dependencies.JOB.outputs['STEP.VAR'] ]
#
# The tenant id comes from the file's TENANT_ID line, which must be written plainly
# (TENANT_ID=<GUID>, no quotes, no "export"): the CI signs in to that tenant before provision
# reads the file. A customer's NAME names its job, its concurrency group and its artifacts, so
# it is lower-case letters, digits and "-". Any file that breaks a rule is named on stderr,
# and nothing is printed: a matrix never runs with a customer missing.
set -euo pipefail

dir=${1:?usage: customers.sh TENANTS_DIR [github|azure]}
format=${2:-github}
case $format in
github | azure) ;;
*)
	echo "customers.sh: unknown format $format: write github or azure" >&2
	exit 2
	;;
esac

guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
entries=()
failed=0
for file in "$dir"/*.env; do
	[ -e "$file" ] || break
	name=$(basename "$file" .env)
	if ! [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]]; then
		echo "$file: name the file after the customer in lower-case letters, digits and -, e.g. contoso.env" >&2
		failed=1
		continue
	fi
	tenant=$(sed -n 's/^TENANT_ID=//p' "$file" | tail -n 1)
	if ! [[ $tenant =~ $guid ]]; then
		echo "$file: no TENANT_ID=<tenant id> line: write the customer's directory (tenant) id as a plain GUID, without quotes or export" >&2
		failed=1
		continue
	fi
	if [ "$format" = github ]; then
		entries+=("{\"customer\":\"$name\",\"tenant\":\"$tenant\"}")
	else
		entries+=("\"$name\":{\"customer\":\"$name\",\"customerTenant\":\"$tenant\"}")
	fi
done
if [ "$failed" -ne 0 ]; then
	exit 1
fi
if [ "${#entries[@]}" -eq 0 ]; then
	echo "customers.sh: no NAME.env file in $dir" >&2
	exit 1
fi
joined=$(
	IFS=,
	echo "${entries[*]}"
)
if [ "$format" = github ]; then
	echo "[$joined]"
else
	echo "{$joined}"
fi
