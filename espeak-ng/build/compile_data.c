/*
 * Compiles espeak-ng's data at build time, the way espeak-ng's own build does
 * with `espeak-ng --compile-intonations`, `--compile-phonemes` and
 * `--compile=<lang>`, through the library's API.
 *
 *   compile_data phonemes ROOT PHSOURCE   intonations and phoneme tables
 *   compile_data dict ROOT LANG DICTSOURCE/   one language's dictionary
 *
 * ROOT is the directory that holds espeak-ng-data/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <espeak-ng/espeak_ng.h>

static int fail(espeak_ng_STATUS status, espeak_ng_ERROR_CONTEXT context, const char *what)
{
	fprintf(stderr, "compile_data: %s: ", what);
	espeak_ng_PrintStatusCodeMessage(status, stderr, context);
	espeak_ng_ClearErrorContext(&context);
	return EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	espeak_ng_ERROR_CONTEXT context = NULL;
	espeak_ng_STATUS status;
	char data[4096];

	if (argc == 4 && strcmp(argv[1], "phonemes") == 0) {
		snprintf(data, sizeof(data), "%s/espeak-ng-data", argv[2]);
		espeak_ng_InitializePath(argv[2]);
		char intonation[4096];
		snprintf(intonation, sizeof(intonation), "%s", argv[3]);
		status = espeak_ng_CompileIntonationPath(intonation, data, stdout, &context);
		if (status != ENS_OK)
			return fail(status, context, "intonations");
		status = espeak_ng_CompilePhonemeDataPath(22050, argv[3], data, stdout, &context);
		if (status != ENS_OK)
			return fail(status, context, "phonemes");
		return EXIT_SUCCESS;
	}
	if (argc == 5 && strcmp(argv[1], "dict") == 0) {
		espeak_ng_InitializePath(argv[2]);
		status = espeak_ng_Initialize(&context);
		if (status != ENS_OK)
			return fail(status, context, "initialize");
		espeak_VOICE voice;
		memset(&voice, 0, sizeof(voice));
		voice.languages = argv[3];
		status = espeak_ng_SetVoiceByProperties(&voice);
		if (status != ENS_OK)
			return fail(status, NULL, argv[3]);
		status = espeak_ng_CompileDictionary(argv[4], NULL, stdout, 0, &context);
		if (status != ENS_OK)
			return fail(status, context, argv[3]);
		return EXIT_SUCCESS;
	}
	fprintf(stderr, "usage: compile_data phonemes ROOT PHSOURCE | dict ROOT LANG DICTSOURCE/\n");
	return EXIT_FAILURE;
}
