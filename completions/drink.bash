# bash completion for drink(1).
#
# Commands, their options and the values of --kind and --role are read
# from drink's own help, which is generated from the command specification
# the server uses, so they always match the installed client.  Machine ids
# and user names need the server: the interactive shell (drink with no
# command) completes those.

_drink_words()
{
	# The command names: "  name ..." lines of drink help.
	drink help 2>/dev/null | awk '/^  [a-z?]/ { print $1 }'
}

_drink()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD-1]}
	local i cmd= help values

	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-H | -p | -u | --host | --port | --user | --ca | --cert | --key)
			((i++)) ;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		case $prev in
		--ca | --cert | --key)
			COMPREPLY=($(compgen -f -- "$cur"))
			return ;;
		-H | --host | -p | --port | -u | --user)
			return ;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '--host --port --user --ca
			    --cert --key --json --help --version' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_drink_words)" -- "$cur"))
		fi
		return
	fi
	if [[ $cmd == help ]]; then
		((COMP_CWORD == i + 1)) &&
		    COMPREPLY=($(compgen -W "$(_drink_words)" -- "$cur"))
		return
	fi
	if [[ $cmd == card ]]; then
		# "card add" is card-add (drink(1)).
		if ((COMP_CWORD == i + 1)); then
			COMPREPLY=($(compgen -W 'add list del' -- "$cur"))
			return
		fi
		cmd=card-${COMP_WORDS[i+1]}
	fi
	help=$(drink help "$cmd" 2>/dev/null) || return
	case $prev in
	--kind | --role)
		# "--kind KIND  ...; one of drop, refund, ... or adjust"
		values=$(printf '%s\n' "$help" | grep -e "^  $prev " |
		    sed -n 's/.*one of //p; s/.*; \(member or admin\)$/\1/p' |
		    sed 's/,//g; s/ or / /g')
		COMPREPLY=($(compgen -W "$values" -- "$cur"))
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(printf '%s\n' "$help" |
		    grep -o -e '--[a-z][a-z-]*' | sort -u) --help" -- "$cur"))
	fi
}
complete -F _drink drink
