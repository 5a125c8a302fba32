/*
 * version.h: the one version of the three daemons and epsctl, as -V
 * prints it, show summary says and the metrics carry (*_info).
 */

#ifndef VERSION_H
#define VERSION_H

#define EPS_VERSION	"0.1"

#endif /* VERSION_H */
