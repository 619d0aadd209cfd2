# bash completion for sift, the command-line client of siftd.
# Installed as /usr/share/bash-completion/completions/sift (loaded on
# demand by bash-completion); works without bash-completion too:
#   source sift.bash
# Field names (sift terms/stats FIELD, --fields) come from the server:
# `sift fields --names` with the --url/--token/--config of the line.

_sift_conn_args()
{
    local i w
    _sift_conn=()
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
        --url | --token | --config | --cacert)
            if ((i + 1 < COMP_CWORD)); then
                _sift_conn+=("$w" "${COMP_WORDS[i + 1]}")
            fi
            ;;
        --url=* | --token=* | --config=* | --cacert=*) _sift_conn+=("$w") ;;
        esac
    done
}

_sift_fields()
{
    _sift_conn_args
    local names
    names=$("${COMP_WORDS[0]}" "${_sift_conn[@]}" --timeout 3 --retries 0 \
        fields --names 2>/dev/null)
    COMPREPLY=($(compgen -W "$names" -- "$1"))
}

_sift()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="search tail ingest hist terms stats fields patterns alerts delete status help"
    local global="--url --token --config --cacert --color --timeout --retries --help"
    local cmd="" i operands=0 w

    # The command is the first word that is neither an option nor the
    # value of a global option.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ -z $cmd ]]; then
            case $w in
            --url | --token | --config | --cacert | --color | --timeout | --retries) ((i++)) ;;
            -*) ;;
            *) cmd=$w ;;
            esac
            continue
        fi
        case $w in
        --from | --to | --limit | -n | --fields | --interval | --size | --by | \
            --format | --field | --batch | --index | --state | --url | \
            --token | --config | --cacert | --color | --timeout | --retries) ((i++)) ;;
        --feedback) ((i++)) ;;
        -*) ;;
        *) ((operands++)) ;;
        esac
    done

    case $prev in
    --color | --colour)
        COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
        return
        ;;
    --config | --cacert)
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    --format)
        COMPREPLY=($(compgen -W "auto text ndjson bulk" -- "$cur"))
        return
        ;;
    --state)
        COMPREPLY=($(compgen -W "firing resolved all" -- "$cur"))
        return
        ;;
    --interval)
        COMPREPLY=($(compgen -W "auto 10s 30s 1m 5m 15m 1h 6h 1d 1w 1M" -- "$cur"))
        return
        ;;
    --from | --to)
        COMPREPLY=($(compgen -W "now now-5m now-15m now-1h now-6h now-1d now-7d" -- "$cur"))
        return
        ;;
    --fields | --by)
        _sift_fields "$cur"
        return
        ;;
    --url | --token | --timeout | --retries | --limit | -n | --size | \
        --batch | --index | --field | --feedback)
        return
        ;;
    esac

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local opts=""
    case $cmd in
    search) opts="--from --to --limit --oldest --json --raw --fields --count" ;;
    tail) opts="--from --limit --json --raw --fields" ;;
    ingest) opts="--format --field --batch --index --json" ;;
    hist) opts="--from --to --interval --by --size --json" ;;
    terms | patterns) opts="--from --to --size --json" ;;
    stats) opts="--from --to --json" ;;
    fields) opts="--names --json" ;;
    alerts) opts="--state --from --to --limit --feedback --json" ;;
    delete) opts="--from --to --all-time --match-all --dry-run --yes --json" ;;
    status) opts="--json" ;;
    help)
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
        ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
        return
    fi
    case $cmd in
    ingest) COMPREPLY=($(compgen -f -- "$cur")) ;;
    terms | stats) ((operands == 0)) && _sift_fields "$cur" ;;
    alerts)
        [[ ${COMP_WORDS[COMP_CWORD - 2]} == --feedback ]] &&
            COMPREPLY=($(compgen -W "fp tp" -- "$cur"))
        ;;
    esac
}

complete -F _sift sift
