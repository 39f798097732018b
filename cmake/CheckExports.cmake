# CheckExports.cmake - the CTest test "shared_exports": libcio.so exports public names only.
#
#   cmake -DNM=<nm> -DLIB=<path of libcio.so> -P CheckExports.cmake
#
# Fails when the shared library's dynamic symbol table defines a name that is not public
# (cio_ followed by anything but a second underscore), e.g. an internal cio__ function that
# src/cio.map failed to hide, or a helper missing its `static`.
if(NOT NM OR NOT LIB)
    message(FATAL_ERROR "usage: cmake -DNM=<nm> -DLIB=<libcio.so> -P CheckExports.cmake")
endif()
execute_process(COMMAND "${NM}" -D --defined-only "${LIB}"
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${LIB}: ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(exported 0)
set(bad "")
foreach(line IN LISTS lines)
    if(line MATCHES "^[0-9A-Fa-f]* *[A-Za-z] +([^ @]+)")
        set(name "${CMAKE_MATCH_1}")
        if(name MATCHES "^cio_[^_]")
            math(EXPR exported "${exported} + 1")
        else()
            list(APPEND bad "${name}")
        endif()
    endif()
endforeach()
if(bad)
    list(JOIN bad "\n  " bad)
    message(FATAL_ERROR "libcio.so exports non-public symbols:\n  ${bad}")
endif()
message(STATUS "libcio.so exports ${exported} public symbols, nothing else")
