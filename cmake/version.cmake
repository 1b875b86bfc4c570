# Writes OUT with SL_VERSION ("<VERSION>+<git short sha>" when git is available) and rewrites it
# only when the text changes, so an unchanged tree does not trigger a rebuild.
set(full "${VERSION}")
find_package(Git QUIET)
if(GIT_FOUND)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SRC} rev-parse --short=8 HEAD
                    OUTPUT_VARIABLE sha OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE rc ERROR_QUIET)
    if(rc EQUAL 0 AND NOT sha STREQUAL "")
        set(full "${VERSION}+${sha}")
    endif()
endif()
set(text "#define SL_VERSION \"${full}\"\n#define SL_VERSION_BASE \"${VERSION}\"\n")
if(EXISTS ${OUT})
    file(READ ${OUT} old)
else()
    set(old "")
endif()
if(NOT old STREQUAL text)
    file(WRITE ${OUT} "${text}")
endif()
