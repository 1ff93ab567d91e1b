#!/usr/bin/env bash
# Re-records chosen tests in GitHub Actions for your branch or pull request, and gets
# the recordings committed back to it: no model server or API key on your machine.
# Triggers the workflow of examples/ci/rerecord.yml (installed as
# .github/workflows/rerecord.yml) with `gh workflow run`; see --help.
set -euo pipefail

prog=rerecord-remote
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  cat <<'EOF'
Usage: scripts/rerecord-remote.sh [OPTIONS] [-- CARGO TEST ARGS...]

Re-records tests in GitHub Actions (the workflow examples/ci/rerecord.yml, installed
as .github/workflows/rerecord.yml on the default branch) for your branch or pull
request, then commits the recordings back to it. Needs gh, logged in (gh auth login),
with write access to the repository (only such users can start workflows).

What to record (checked here first, with scripts/ci-rerecord.sh plan):
  --tests 'ARGS'       cargo test selectors, e.g. '--test chat answers_in_json'; the
                       words after `--` are appended (libtest options after a second --)
  --suite NAME         a suite of recorder.toml (RECORDER_SUITE)
  --setup NAME         a setup of recorder.toml (RECORDER_SETUP; default: the suite's,
                       else recorder.toml's default_setup)
  --models KIND=A,B    model overrides, repeatable (RECORDER_<KIND>_MODELS); also
                       --text-models A,B, --vision-models, --embedding-models,
                       --rerank-models, --safety-models, --judge-models
  --mode MODE          record-if-missing (default) or record

What to record for (default: the current branch; its open pull request if it has one):
  --branch NAME        a branch of the repository (or the head branch of an open PR)
  --pr NUMBER          a pull request, also from a fork
  --repo OWNER/NAME    the repository whose workflow runs, with its secrets (default:
                       this clone's repository; its parent when this clone is a fork)
  --ref REF            the branch whose workflow file and scripts run (default: the
                       repository's default branch; the recorded code is the target's)
  --workflow FILE      the workflow file name (default: rerecord.yml)

Afterwards:
  --no-commit          keep the recordings as the run's artifact, commit nothing
  --wait               wait for the run, then fast-forward your branch to its commit,
                       or download its artifact and apply it to your checkout
  --apply-run RUN_ID   trigger nothing: download run RUN_ID's recordings and apply them
  --dry-run            check everything and print the gh command; trigger nothing
  -h, --help           this help

Examples:
  scripts/rerecord-remote.sh --tests '--test chat answers_in_json'
  scripts/rerecord-remote.sh --setup gpt --text-models gpt-4o-mini --mode record --wait
  scripts/rerecord-remote.sh --pr 42 --suite base
  scripts/rerecord-remote.sh --setup local -- --test retrieval answers_with_context

Exit codes: 0 triggered (with --wait: recordings pulled, or nothing changed; with
--apply-run: applied), 1 failed, 2 usage error, 3 (--wait) recorded but not pushed:
the recordings are applied to your checkout instead, commit them yourself.
EOF
}

say() { printf '%s: %s\n' "$prog" "$*"; }
warn() { printf '%s: warning: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
usage_error() { printf '%s: error: %s\n' "$prog" "$*" >&2; printf '(%s --help shows the options)\n' "$(quoted "$0")" >&2; exit 2; }
quoted() {
  local out="" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_:./=,+@%-]+$ ]]; then out="$out $a"; else out="$out $(printf '%q' "$a")"; fi
  done
  printf '%s' "${out# }"
}

tests="" suite="" setup="" models="" mode=record-if-missing
branch="" pr="" repo=${RERECORD_REPO:-} ref="" workflow=${RERECORD_WORKFLOW:-rerecord.yml}
commit=true wait=false dry_run=false apply_run=""
extra=()

need_value() { [ $# -ge 2 ] || usage_error "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --tests) need_value "$@"; tests=$2; shift 2 ;;
    --suite) need_value "$@"; suite=$2; shift 2 ;;
    --setup) need_value "$@"; setup=$2; shift 2 ;;
    --models) need_value "$@"; models="${models:+$models }$2"; shift 2 ;;
    --text-models | --vision-models | --embedding-models | --rerank-models | --safety-models | --judge-models)
      need_value "$@"; kind=${1#--}; kind=${kind%-models}; models="${models:+$models }$kind=$2"; shift 2 ;;
    --mode) need_value "$@"; mode=$2; shift 2 ;;
    --branch | -b) need_value "$@"; branch=$2; shift 2 ;;
    --pr) need_value "$@"; pr=${2#\#}; shift 2 ;;
    --repo | -R) need_value "$@"; repo=$2; shift 2 ;;
    --ref) need_value "$@"; ref=$2; shift 2 ;;
    --workflow) need_value "$@"; workflow=$2; shift 2 ;;
    --no-commit) commit=false; shift ;;
    --wait) wait=true; shift ;;
    --apply-run) need_value "$@"; apply_run=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) usage_error "unknown option '$1' (test selectors go in --tests '...' or after --)" ;;
  esac
done
if [ ${#extra[@]} -gt 0 ]; then tests="${tests:+$tests }${extra[*]}"; fi

[ -z "$pr" ] || [[ $pr =~ ^[0-9]+$ ]] || usage_error "--pr takes a pull request number, not '$pr'"
[ -z "$pr" ] || [ -z "$branch" ] || usage_error "give --branch or --pr, not both"
[ -z "$repo" ] || [[ $repo =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || usage_error "--repo takes OWNER/NAME, not '$repo'"
[ -z "$apply_run" ] || [[ $apply_run =~ ^[0-9]+$ ]] || usage_error "--apply-run takes a run id (a number), not '$apply_run'"
[[ $workflow =~ ^[A-Za-z0-9_.-]+$ ]] || usage_error "--workflow takes a file name like rerecord.yml"

# Run in the project folder (where recorder.toml is; usually the repository root).
root=$(git rev-parse --show-toplevel 2>/dev/null) || usage_error "run this inside your clone of the repository"

# Check the selection here first (no network): a mistake fails in seconds, not in CI.
# (Not for --apply-run, which records nothing.)
if [ -z "$apply_run" ]; then
  plan_args=(--mode "$mode")
  [ -z "$tests" ] || plan_args+=(--tests "$tests")
  [ -z "$suite" ] || plan_args+=(--suite "$suite")
  [ -z "$setup" ] || plan_args+=(--setup "$setup")
  [ -z "$models" ] || plan_args+=(--models "$models")
  plan_rc=0
  plan_out=$("$here/ci-rerecord.sh" plan "${plan_args[@]}" 2>&1) || plan_rc=$?
  printf '%s\n' "$plan_out" | sed "s/^ci-rerecord: /$prog: /"
  [ "$plan_rc" -eq 0 ] || exit "$plan_rc"
fi

# gh, logged in
command -v gh >/dev/null || die "gh (GitHub CLI) is not installed: https://cli.github.com (then gh auth login)"
gh auth status >/dev/null 2>&1 || die "gh is not logged in: run gh auth login"

if [ -z "$repo" ]; then
  repo=$(gh repo view --json nameWithOwner,isFork,parent \
    --jq 'if .isFork and .parent != null then .parent.owner.login + "/" + .parent.name else .nameWithOwner end') \
    || die "cannot tell which GitHub repository this clone belongs to: pass --repo OWNER/NAME"
  [ -n "$repo" ] || die "gh named no repository for this clone: pass --repo OWNER/NAME"
fi

# Downloads run $1's recordings artifact into target/rerecord-run-$1 (1 if it has none).
download_run() { # run_id
  local dir="$root/target/rerecord-run-$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  if gh run download "$1" --repo "$repo" --name "recordings-$1" --dir "$dir" >/dev/null 2>&1; then
    printf '%s' "$dir"
  else
    rm -rf "$dir"
    return 1
  fi
}
apply_run_dir() { # dir
  "$here/ci-rerecord.sh" apply "$1" >/dev/null
  git status --short -- recordings
  say "applied the recordings to your checkout; commit them with: git add -A -- recordings && git commit -F $(quoted "$1/commit-message.txt") && git push"
}

if [ -n "$apply_run" ]; then
  dir=$(download_run "$apply_run") \
    || die "cannot download the artifact recordings-$apply_run of run $apply_run in $repo (did the run record anything? gh run view $apply_run --repo $repo)"
  apply_run_dir "$dir"
  exit 0
fi

# What to record for: a pull request (number, head branch, head commit) or a branch.
pr_state="" head_sha="" head_ref="" is_fork=false can_modify=true auto=false
read_pr() { # number
  local line
  line=$(gh pr view "$1" --repo "$repo" --json state,headRefName,headRefOid,isCrossRepository,maintainerCanModify \
    --jq '[.state, .headRefName, .headRefOid, .isCrossRepository, .maintainerCanModify] | @tsv') \
    || die "cannot read pull request #$1 of $repo"
  IFS=$'\t' read -r pr_state head_ref head_sha is_fork can_modify <<<"$line"
}
# Refuses (exit 2) a branch name the workflow would refuse (ci-rerecord.sh check-branch
# says why), before anything is triggered.
check_branch() { # name
  local out rc=0
  out=$("$here/ci-rerecord.sh" check-branch "$1" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | sed "s/^ci-rerecord: /$prog: /" >&2
    exit "$rc"
  fi
}
branch_sha() { gh api "repos/$repo/git/ref/heads/$1" --jq .object.sha 2>/dev/null; }
open_prs_for() { # branch [owner]: "number<TAB>owner" lines
  gh pr list --repo "$repo" --head "$1" --state open --json number,headRepositoryOwner \
    --jq '.[] | [.number, .headRepositoryOwner.login] | @tsv'
}
remote_owner() { # branch: the owner in the URL of the remote the branch tracks
  local remote url
  remote=$(git config "branch.$1.remote" 2>/dev/null) || return 0
  url=$(git remote get-url "$remote" 2>/dev/null) || return 0
  printf '%s\n' "$url" | sed -nE 's#^(https?://[^/]+/|ssh://[^/]+/|[^@/]+@[^:/]+:)([^/]+)/[^/]+$#\2#p'
}
pick_pr() { # branch: sets pr when exactly one open PR has that head branch (from our remote's owner)
  local lines owner count
  lines=$(open_prs_for "$1") || die "cannot list the pull requests of $repo"
  owner=$(remote_owner "$1")
  if [ -n "$owner" ] && [ -n "$lines" ]; then
    local mine
    mine=$(printf '%s\n' "$lines" | awk -F '\t' -v o="$owner" 'tolower($2) == tolower(o)')
    [ -z "$mine" ] || lines=$mine
  fi
  count=$(printf '%s' "$lines" | grep -c . || true)
  if [ "$count" -gt 1 ]; then
    die "several open pull requests have the head branch $1 ($(printf '%s\n' "$lines" | cut -f1 | sed 's/^/#/' | paste -sd, - | sed 's/,/, /g')): pass --pr NUMBER"
  fi
  if [ "$count" -eq 1 ]; then pr=$(printf '%s\n' "$lines" | cut -f1); fi
  return 0
}

if [ -z "$pr" ] && [ -z "$branch" ]; then
  branch=$(git symbolic-ref --quiet --short HEAD) \
    || usage_error "HEAD is detached: check out your branch, or pass --branch NAME or --pr NUMBER"
  auto=true
  say "current branch: $branch"
fi
if [ -z "$pr" ]; then
  check_branch "$branch"
  pick_pr "$branch"
fi
if [ -n "$pr" ]; then
  read_pr "$pr"
  check_branch "$head_ref"
  case $pr_state in
    MERGED) usage_error "pull request #$pr is already merged: recordings cannot be committed to it; record on a new branch" ;;
    CLOSED) warn "pull request #$pr is closed; recording for its branch anyway" ;;
  esac
  say "pull request #$pr: $head_ref at $head_sha$([ "$is_fork" = true ] && printf ' (from a fork)')"
  if [ "$is_fork" = true ] && [ "$can_modify" != true ]; then
    warn "#$pr does not allow edits from maintainers: the recordings will come back as an artifact (--wait applies it here), not as a commit"
  fi
  target=$pr
else
  head_ref=$branch
  head_sha=$(branch_sha "$branch") \
    || usage_error "branch $branch is not on $repo and has no open pull request there: push it (git push -u origin $(quoted "$branch")) and open a pull request, or pass --repo"
  say "branch $branch at $head_sha (no open pull request)"
  target=$branch
fi

# CI records what GitHub has: the local branch must be that commit.
if $auto; then
  local_sha=$(git rev-parse HEAD)
  if [ "$local_sha" != "$head_sha" ]; then
    if git merge-base --is-ancestor "$head_sha" "$local_sha" 2>/dev/null; then
      usage_error "$branch has commits that are not pushed ($local_sha here, $head_sha on GitHub): push them first (git push), CI records what GitHub has"
    fi
    usage_error "$branch is at $local_sha here but at $head_sha on GitHub: pull or push first, CI records what GitHub has"
  fi
fi

if [ -z "$ref" ]; then
  ref=$(gh repo view "$repo" --json defaultBranchRef --jq .defaultBranchRef.name) \
    || die "cannot read the default branch of $repo: pass --ref"
fi

request_id="rr-$(date -u +%Y%m%d%H%M%S)-$$-${RANDOM}"
run_args=(workflow run "$workflow" --repo "$repo" --ref "$ref"
  -f "target=$target" -f "tests=$tests" -f "suite=$suite" -f "setup=$setup"
  -f "models=$models" -f "mode=$mode" -f "expected_sha=$head_sha" -f "commit=$commit"
  -f "request_id=$request_id")
say "gh $(quoted "${run_args[@]}")"
if $dry_run; then
  say "dry run: nothing triggered"
  exit 0
fi
gh "${run_args[@]}" || die "gh workflow run failed: $workflow must be on $repo's default branch (copy examples/ci/rerecord.yml to .github/workflows/$workflow there), and you need write access to $repo"

# Find the run by the request id in its name.
run_id="" run_url=""
tries=${RERECORD_FIND_TRIES:-15}
for _ in $(seq 1 "$tries"); do
  line=$(gh run list --repo "$repo" --workflow "$workflow" --event workflow_dispatch --limit 30 \
    --json databaseId,displayTitle,url \
    --jq ".[] | select(.displayTitle | contains(\"$request_id\")) | [.databaseId, .url] | @tsv" 2>/dev/null || true)
  if [ -n "$line" ]; then
    IFS=$'\t' read -r run_id run_url <<<"$(printf '%s\n' "$line" | head -1)"
    break
  fi
  sleep "${RERECORD_POLL_SECONDS:-2}"
done
if [ -z "$run_id" ]; then
  $wait && die "the run did not show up (request $request_id): look for it with gh run list --repo $repo --workflow $workflow"
  say "triggered (request $request_id); follow it with: gh run list --repo $repo --workflow $workflow"
  exit 0
fi
say "run $run_id: $run_url"
if ! $wait; then
  say "follow it with: gh run watch $run_id --repo $repo"
  say "afterwards: git pull (the recordings are committed to $head_ref), or, if it could not push: $(quoted "$0") --apply-run $run_id"
  exit 0
fi

watch_rc=0
gh run watch "$run_id" --repo "$repo" --exit-status || watch_rc=$?

# Did it push? Look for the commit that carries the request id on the branch.
current=$(git symbolic-ref --quiet --short HEAD || true)
upstream_remote=""
if [ -n "$current" ] && [ "$current" = "$head_ref" ]; then
  upstream_remote=$(git config "branch.$current.remote" 2>/dev/null || true)
fi
if [ -n "$upstream_remote" ]; then
  upstream_branch=$(git config "branch.$current.merge" 2>/dev/null || printf 'refs/heads/%s' "$head_ref")
  if git fetch -q "$upstream_remote" "$upstream_branch" 2>/dev/null \
     && grep -qF "Rerecord-Request: $request_id" <<<"$(git log -1 --format=%B FETCH_HEAD)"; then
    git merge -q --ff-only FETCH_HEAD || die "the recordings are on $upstream_remote/$head_ref but your branch cannot fast-forward to them: git pull --rebase"
    say "pulled the recordings: $(git log -1 --format='%h %s')"
    exit 0
  fi
elif [ "$watch_rc" -eq 0 ]; then
  say "the run finished; you are not on $head_ref tracking its remote, so pull it yourself: git fetch, then update $head_ref"
  exit 0
fi

if dir=$(download_run "$run_id"); then
  if [ -n "$current" ] && [ "$current" = "$head_ref" ]; then
    say "the run did not push its recordings (gh run view $run_id --repo $repo says why): applying them here"
    apply_run_dir "$dir"
  else
    say "the run did not push its recordings; on $head_ref, apply them with: $(quoted "$0") --apply-run $run_id --repo $repo"
  fi
  exit 3
fi
if [ "$watch_rc" -ne 0 ]; then
  die "run $run_id failed and left no recordings: gh run view $run_id --repo $repo --log-failed"
fi
say "the run finished without changes: nothing to pull"
