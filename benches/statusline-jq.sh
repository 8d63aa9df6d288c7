#!/bin/bash
# The statusline example from Claude Code's documentation (bash + jq), the
# baseline BENCHMARKS.md compares llm-bridge-statusline with.
input=$(cat)
MODEL=$(echo "$input" | jq -r '.model.display_name')
DIR=$(echo "$input" | jq -r '.workspace.current_dir')
PCT=$(echo "$input" | jq -r '.context_window.used_percentage // 0')
echo "[$MODEL] ${DIR##*/} | ${PCT}% context"
