#!/usr/bin/env bash
# Runs the docker-compose stack for real: builds the image, starts every service, exercises it (a dataset,
# an annotator's votes, a reward-model job on the built-in tiny model, promote, /reward, a worker restart in
# the middle of a job, a full `down` and `up` that keeps the data) and tears it down again.
# A manual check: it needs a Docker engine and the base images (the test suite only validates the compose
# files with `docker-compose config`). It runs on a copy of the working tree with an .env of its own, under
# its own project name and free host ports, so an operator's .env and stack are left alone.
#   usage: scripts/compose_smoke.sh          KEEP=1 leaves the stack up (prints how to remove it)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
project="rlhf-smoke-$$"
started=$(date +%s)
step() { printf '\n[%4ss] %s\n' "$(($(date +%s) - started))" "$*"; }
fail() { printf '\nFAILED: %s\n' "$*" >&2; compose ps >&2 || true; compose logs --tail 40 >&2 || true; exit 1; }
compose() { (cd "$work" && docker-compose -p "$project" "$@"); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
# json EXPRESSION: evaluates a Python expression over the JSON document on stdin, bound to `d`.
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

cleanup() {
  if [ -n "${KEEP:-}" ]; then
    echo "stack left up: (cd $work && docker-compose -p $project down -v)"
  else
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

docker info >/dev/null 2>&1 || { echo "no Docker engine answers (start dockerd)"; exit 1; }
tar -C "$repo" --exclude=./.git --exclude=./.venv --exclude=./.env --exclude=./.rlhf -c . | tar -C "$work" -x
collector_port=$(free_port)
inference_port=$(free_port)
admin_token=$(secret)
cat >"$work/.env" <<EOF
POSTGRES_PASSWORD=$(secret)
RLHF_ADMIN_TOKEN=$admin_token
RLHF_COLLECTOR_PORT=$collector_port
RLHF_INFERENCE_PORT=$inference_port
HF_HUB_OFFLINE=1
RLHF_JOB_HEARTBEAT_TIMEOUT_SECONDS=30
RLHF_WATCHDOG_INTERVAL_SECONDS=2
EOF
collector="http://127.0.0.1:$collector_port"
inference="http://127.0.0.1:$inference_port"
admin=(-fsS -H "Authorization: Bearer $admin_token")

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 2 s until it succeeds.
wait_for() {
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for $what"
    sleep 2
  done
}
healthy() {
  local id
  for service in "$@"; do
    id=$(compose ps -q "$service")
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] || return 1
  done
}
job() { curl "${admin[@]}" "$collector/api/v1/jobs/$1"; }
job_is() { [ "$(job "$1" | json "$2")" = True ]; }

step "build"
compose build --quiet >/dev/null || fail "docker-compose build"

step "up (host ports $collector_port and $inference_port; the containers listen on 8000 and 8001)"
compose up -d || fail "docker-compose up"
wait_for 300 "collector and worker healthy" healthy collector worker
for page in annotate admin; do
  curl -fsS -o /dev/null "$collector/$page" || fail "the collector does not serve /$page"
done

step "a dataset, an annotator and their votes"
dataset=$(curl "${admin[@]}" -X POST "$collector/api/v1/datasets" -H 'Content-Type: application/json' \
  -d "{\"name\": \"smoke-$$\"}" | json 'd["id"]')
python3 -c '
import json
good = ["a warm sunny morning", "a kind note from a friend", "a fresh loaf of bread", "a long restful sleep"]
bad = ["a cold rainy commute", "a rude reply from a stranger", "a burnt slice of toast", "a sleepless night"]
for i in range(24):
    print(json.dumps({"prompt": f"Describe your day ({i}):", "chosen": f" It was {good[i % 4]}.",
                      "rejected": f" It was {bad[(i * 3 + 1) % 4]}."}))' >"$work/pairs.jsonl"
curl "${admin[@]}" -X POST "$collector/api/v1/datasets/$dataset/import?format=trl&with_preferences=false" \
  --data-binary @"$work/pairs.jsonl" >/dev/null || fail "import"
annotator_token=$(curl "${admin[@]}" -X POST "$collector/api/v1/annotators" -H 'Content-Type: application/json' \
  -d '{"name": "smoke annotator"}' | json 'd["token"]')
votes=0
while true; do
  next=$(curl -sS -H "Authorization: Bearer $annotator_token" "$collector/api/v1/datasets/$dataset/next")
  [ -n "$next" ] || break  # 204: nothing left to judge
  comparison=$(echo "$next" | json 'd["comparison_id"]')
  # The chosen response is the pleasant one: find which side it is on.
  choice=$(echo "$next" | json '"a" if any(w in d["response_a"] for w in ("warm", "kind", "fresh", "restful")) else "b"')
  curl -fsS -X POST -H "Authorization: Bearer $annotator_token" -H 'Content-Type: application/json' \
    "$collector/api/v1/comparisons/$comparison/preferences" -d "{\"choice\": \"$choice\"}" >/dev/null \
    || fail "vote"
  votes=$((votes + 1))
done
[ "$votes" -eq 24 ] || fail "24 votes expected, cast $votes"
echo "$votes votes"

step "a reward-model job on the built-in tiny model"
submit() {
  curl "${admin[@]}" -X POST "$collector/api/v1/jobs" -H 'Content-Type: application/json' \
    -d "{\"kind\": \"reward_model\", \"dataset_id\": $dataset, \"base_model\": \"builtin:tiny-gpt2\", \"params\": $1}" \
    | json 'd["id"]'
}
trained=$(submit '{"max_steps": 20, "per_device_train_batch_size": 4, "learning_rate": 0.001}')
wait_for 600 "job $trained to finish" job_is "$trained" 'd["status"] in ("succeeded", "failed", "cancelled")'
job "$trained" | json 'd["status"], d["metrics"].get("eval_accuracy"), d["error"]'
job_is "$trained" 'd["status"] == "succeeded"' || fail "job $trained did not succeed"

step "promote, then /reward serves the new version"
# Its first start builds the built-in policy before it answers: minutes on a busy CPU.
wait_for 600 "inference healthy" healthy inference
version=$(job "$trained" | json 'd["model_version_id"]')
name=$(curl "${admin[@]}" -X POST "$collector/api/v1/models/$version/promote" | json 'd["name"]')
reward() {
  curl "${admin[@]}" -X POST "$inference/reward" -H 'Content-Type: application/json' \
    -d '{"inputs": [{"prompt": "Describe your day:", "response": " It was a warm sunny morning."},
                    {"prompt": "Describe your day:", "response": " It was a sleepless night."}]}'
}
served() { [ "$(reward | json 'd["model"]')" = "$name" ]; }
wait_for 120 "/reward to serve $name" served
reward | json '"model", d["model"], "rewards (pleasant, unpleasant)", d["rewards"]'

step "docker-compose restart worker in the middle of a job"
long=$(submit '{"max_steps": 100000, "per_device_train_batch_size": 2, "learning_rate": 0.0001}')
wait_for 300 "job $long to train" job_is "$long" 'd["status"] == "running" and d["metrics"].get("step", 0) >= 1'
restart_started=$(date +%s)
compose restart worker >/dev/null
echo "restart took $(($(date +%s) - restart_started)) s (the grace period is 2 min: the job stopped at its next step)"
wait_for 300 "job $long to run again on the restarted worker" \
  job_is "$long" 'd["status"] == "running" and d["attempts"] == 1 and d["metrics"].get("step", 0) >= 1'
echo "job $long handed back and running again, attempts still 1"
curl "${admin[@]}" -X POST "$collector/api/v1/jobs/$long/cancel" >/dev/null
wait_for 120 "job $long to stop" job_is "$long" 'd["status"] == "cancelled"'

step "down and up again: the data and the promoted version survive"
compose down >/dev/null
compose up -d >/dev/null 2>&1 || fail "docker-compose up after down"
wait_for 300 "collector and inference healthy again" healthy collector inference
curl "${admin[@]}" "$collector/api/v1/datasets/$dataset/stats" >/dev/null || fail "dataset $dataset gone"
wait_for 120 "/reward to serve $name again" served

step "passed in $(($(date +%s) - started)) s"
