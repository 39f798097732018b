# CioUring.cmake - decides whether the io_uring backend is built (CIO_WITH_URING).
#
# AUTO builds it when liburing's header and library are found, ON requires them, OFF never
# builds it. Sets:
#   CIO_HAVE_LIBURING   TRUE when the backend is built. The library is then compiled with
#                       CIO_HAVE_LIBURING=1 and links liburing; otherwise the sources
#                       src/backend/uring*.c are left out of the build.
#   CIO_URING_LIBRARY   what to link ("uring", by name, so the exported static target stays
#                       relocatable; liburing lives in the default library path on Debian).

set(CIO_HAVE_LIBURING FALSE)
set(CIO_URING_LIBRARY "")
# Until the backend's sources exist there is nothing to link liburing into: AUTO then
# leaves it out, so cio.pc does not ask static users for a library cio does not use.
file(GLOB _cio_uring_sources "${CMAKE_CURRENT_SOURCE_DIR}/src/backend/uring*.c")
if(CIO_WITH_URING STREQUAL "AUTO" AND NOT _cio_uring_sources)
    set(CIO_WITH_URING "OFF")
endif()
if(NOT CIO_WITH_URING STREQUAL "OFF")
    find_path(CIO_URING_INCLUDE_DIR liburing.h)
    find_library(CIO_URING_LIB_PATH uring)
    if(CIO_URING_INCLUDE_DIR AND CIO_URING_LIB_PATH)
        set(CIO_HAVE_LIBURING TRUE)
        set(CIO_URING_LIBRARY uring)
        if(NOT CIO_URING_INCLUDE_DIR IN_LIST CMAKE_C_IMPLICIT_INCLUDE_DIRECTORIES)
            include_directories(SYSTEM "${CIO_URING_INCLUDE_DIR}")
        endif()
    elseif(CIO_WITH_URING STREQUAL "ON")
        message(FATAL_ERROR "CIO_WITH_URING=ON but liburing was not found (apt-get install liburing-dev)")
    endif()
endif()
message(STATUS "cio: io_uring backend: ${CIO_HAVE_LIBURING}")
